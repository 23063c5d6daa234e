"""The containers collector on this machine: engines present are asked, absent ones recorded."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from collectors.base import CommandRecord
from collectors.containers import container_ids, docker_daemon
from tests.collectors.helpers import problems


def test_engines_on_this_machine(run) -> None:
    obs = run("containers")
    reasons = [p.reason for p in problems(obs)]
    commands = [o.argv for o in obs if isinstance(o, CommandRecord)]
    if shutil.which("docker") and docker_daemon():
        assert ("docker", "ps", "-a", "--no-trunc", "--format", "{{json .}}") in commands
    else:
        assert any(r.startswith("containers: docker") and "not present" in r for r in reasons)
    if shutil.which("podman"):
        assert ("podman", "ps", "-a", "--no-trunc", "--format", "json") in commands
    else:
        assert "containers: podman not present" in reasons


@pytest.mark.skipif(shutil.which("docker") is None, reason="a docker client")
def test_a_daemon_that_does_not_answer_is_an_error_with_its_stderr(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.close()  # the socket file stays; connecting to it is refused
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    assert docker_daemon() == f"unix://{path}"
    ids, why = container_ids(["docker", "ps", "-aq", "--no-trunc"])
    assert ids == [] and why is not None
    assert why.startswith("docker ps -aq --no-trunc: exit status 1: ")
    assert "connect" in why.lower()
    obs = run("containers")
    assert ("docker", "ps", "-a", "--no-trunc", "--format", "{{json .}}") in [
        o.argv for o in obs if isinstance(o, CommandRecord)
    ]
    assert [p.reason for p in problems(obs) if p.kind == "error"] == [f"containers: {why}"]


def test_no_daemon_socket_is_not_present(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    assert docker_daemon() is None
