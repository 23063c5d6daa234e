"""The packages collector: installed packages and their integrity (dpkg, rpm).

dpkg: ``/var/lib/dpkg/status`` is collected as it is (the raw source) and parsed beside it,
one record a package; ``dpkg -V`` checks every installed file against the package's MD5
sums. rpm: ``rpm -qa`` with a query format and ``rpm -Va``. The commands are recorded with
their exact argv and exit status (and the end of standard error when they fail); a tool
or database the host does not have is recorded as "not present".

Cost: the list is a few milliseconds; verification reads every packaged file (``dpkg -V``:
61 s for 760 packages on a 2-core VM, and it may update atimes of the files it reads on a
``relatime`` mount), so the triage profile sets ``verify: false`` and the full one keeps it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, ClassVar

from collectors._util import error, read_text, skipped, to_jsonl, which
from collectors.base import (
    CollectContext,
    Collector,
    CommandRecord,
    FileTarget,
    Host,
    NotCompatible,
    Observation,
    VolatileRecord,
    Volatility,
    register_collector,
)

DPKG_STATUS = "/var/lib/dpkg/status"
RPM_QUERYFORMAT = (
    "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\t%{VENDOR}\\n"
)
#: Fields of a dpkg status paragraph kept in the parsed view (lower-cased, ``-`` as ``_``).
DPKG_FIELDS = (
    "Package",
    "Status",
    "Version",
    "Architecture",
    "Source",
    "Installed-Size",
    "Maintainer",
    "Section",
    "Priority",
    "Essential",
)


def parse_dpkg_status(text: str) -> list[dict[str, Any]]:
    """``/var/lib/dpkg/status`` as one record a package (``conffiles``: path and MD5 sum)."""
    packages: list[dict[str, Any]] = []
    for paragraph in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        current: str | None = None
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t") and current is not None:
                fields[current].append(line.strip())
            elif ":" in line:
                current, _, value = line.partition(":")
                fields[current] = [value.strip()]
        if "Package" not in fields:
            continue
        record: dict[str, Any] = {
            name.lower().replace("-", "_"): fields[name][0]
            for name in DPKG_FIELDS
            if name in fields
        }
        if "Description" in fields:
            record["description"] = fields["Description"][0]
        conffiles = []
        for line in fields.get("Conffiles", [])[1:]:
            parts = line.split()
            if len(parts) >= 2:
                conffiles.append({"path": parts[0], "md5": parts[1], "flags": parts[2:]})
        if conffiles:
            record["conffiles"] = conffiles
        packages.append(record)
    return packages


@register_collector
class Packages(Collector):
    """Installed packages (dpkg status parsed, rpm -qa) and their integrity (dpkg -V, rpm -Va)."""

    name = "packages"
    volatility = Volatility.PERSISTENCE
    description = (
        "Installed packages (dpkg status, rpm -qa) and, with verify, dpkg -V / rpm -Va "
        "(about 60 s: every packaged file is read)"
    )
    options_schema: ClassVar[dict[str, Any]] = {
        "verify": bool,  # dpkg -V / rpm -Va; default true
        "verify_timeout_s": (int, float),  # default 1800
    }

    def check_compatible(self, host: Host) -> None:
        if host.system != "Linux":
            raise NotCompatible("dpkg and rpm databases are read on Linux only")

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        verify = bool(ctx.options.get("verify", True))
        timeout = float(ctx.options.get("verify_timeout_s", 1800))
        yield from self._dpkg(verify, timeout)
        yield from self._rpm(verify, timeout)

    def _dpkg(self, verify: bool, timeout: float) -> Iterator[Observation]:
        if not os.path.lexists(DPKG_STATUS):
            yield skipped(f"packages: dpkg not present ({DPKG_STATUS} absent)", DPKG_STATUS)
            return
        yield FileTarget(os.fsencode(DPKG_STATUS), "packages:dpkg")
        try:
            packages = parse_dpkg_status(read_text(DPKG_STATUS, follow=False, limit=256 << 20))
        except OSError as exc:
            yield error(f"packages: cannot read {DPKG_STATUS}: {exc.strerror}", DPKG_STATUS)
        else:
            installed = sum(1 for p in packages if p.get("status", "").endswith(" installed"))
            yield VolatileRecord(
                "volatile/packages_dpkg.jsonl",
                to_jsonl(packages),
                f"{len(packages)} dpkg packages ({installed} installed), parsed from "
                f"{DPKG_STATUS} (collected beside it)",
            )
        if not verify:
            return
        if which("dpkg") is None:
            yield skipped("packages: dpkg -V not run: dpkg not present on PATH")
            return
        yield CommandRecord(
            "volatile/packages_dpkg_verify.txt",
            ("dpkg", "-V"),
            "dpkg -V: installed files that differ from their packages (debsums-like flags)",
            timeout_s=timeout,
        )

    def _rpm(self, verify: bool, timeout: float) -> Iterator[Observation]:
        if which("rpm") is None:
            yield skipped("packages: rpm not present")
            return
        yield CommandRecord(
            "volatile/packages_rpm.tsv",
            ("rpm", "-qa", "--queryformat", RPM_QUERYFORMAT),
            "rpm -qa: name, epoch, version, release, arch, install time, vendor (tab-separated)",
        )
        if verify:
            yield CommandRecord(
                "volatile/packages_rpm_verify.txt",
                ("rpm", "-Va"),
                "rpm -Va: installed files that differ from their packages",
                timeout_s=timeout,
            )
