"""The packages collector on this machine (dpkg status parsed beside the raw file), and its parser."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from collectors.base import CommandRecord, FileTarget
from collectors.packages import DPKG_STATUS, parse_dpkg_status
from tests.collectors.helpers import jsonl, problems

STATUS = """\
Package: openssh-server
Status: install ok installed
Priority: optional
Section: net
Installed-Size: 1865
Maintainer: Debian OpenSSH Maintainers <debian-ssh@lists.debian.org>
Architecture: amd64
Source: openssh
Version: 1:9.2p1-2+deb12u3
Conffiles:
 /etc/default/ssh 500e3cf069fe9a7b9936108eb9d9c035
 /etc/pam.d/sshd 8b4c7a12b031424b2a9946881da59812 obsolete
Description: secure shell (SSH) server, for secure access from remote machines
 This is the portable version of OpenSSH.

Package: removed-one
Status: deinstall ok config-files
Version: 1.0
"""


def test_parse_dpkg_status() -> None:
    ssh, removed = parse_dpkg_status(STATUS)
    assert ssh["package"] == "openssh-server" and ssh["version"] == "1:9.2p1-2+deb12u3"
    assert ssh["installed_size"] == "1865" and ssh["source"] == "openssh"
    assert ssh["description"] == "secure shell (SSH) server, for secure access from remote machines"
    assert ssh["conffiles"] == [
        {"path": "/etc/default/ssh", "md5": "500e3cf069fe9a7b9936108eb9d9c035", "flags": []},
        {
            "path": "/etc/pam.d/sshd",
            "md5": "8b4c7a12b031424b2a9946881da59812",
            "flags": ["obsolete"],
        },
    ]
    assert removed == {
        "package": "removed-one",
        "status": "deinstall ok config-files",
        "version": "1.0",
    }


@pytest.mark.skipif(not os.path.exists(DPKG_STATUS), reason="a dpkg host (Debian CI)")
def test_dpkg_on_this_machine(run) -> None:
    obs = run("packages", verify=False)
    assert FileTarget(os.fsencode(DPKG_STATUS), "packages:dpkg") in obs  # the raw source
    packages = jsonl(obs, "volatile/packages_dpkg.jsonl")
    listed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\\n"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(p["package"] for p in packages) == sorted(listed)
    assert not [o for o in obs if isinstance(o, CommandRecord) and o.argv[0] == "dpkg"]
    verified = run("packages")
    commands = [o for o in verified if isinstance(o, CommandRecord)]
    assert ("dpkg", "-V") in [c.argv for c in commands]
    if shutil.which("rpm") is None:
        assert "packages: rpm not present" in [p.reason for p in problems(verified)]
    else:
        assert ("rpm", "-Va") in [c.argv for c in commands]
