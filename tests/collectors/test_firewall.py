"""The firewall collector on this machine: each rule dump a command, or recorded as absent."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from collectors.base import CommandRecord
from collectors.firewall import COMMANDS
from custody.store.archive import RunArchive
from custody.store.capture import CommandCaptured, capture_command
from tests.collectors.helpers import problems


def test_every_dump_is_a_command_or_not_present(run, tmp_path: Path) -> None:
    obs = run("firewall")
    commands = {o.argv: o for o in obs if isinstance(o, CommandRecord)}
    absent = [p.reason for p in problems(obs)]
    for member, argv, _description in COMMANDS:
        if shutil.which(argv[0]):
            assert commands[argv].member == member
            archive = RunArchive(tmp_path / f"{argv[0]}.tar")
            result = capture_command(archive, commands[argv], tmp_path / "spool", threading.Event())
            archive.close()
            assert isinstance(result, CommandCaptured), result  # as root the rules are readable
        else:
            assert any(r.startswith(f"firewall: {argv[0]} not present") for r in absent)
    assert len(commands) + len(absent) == len(COMMANDS)
