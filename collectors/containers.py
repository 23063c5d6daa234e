"""The containers collector: docker and podman containers, running or stopped, and their config.

For each engine present: ``ps -a`` (every container, one JSON object a line for docker, a
JSON array for podman) and ``inspect`` of every container, each recorded with its exact
argv and exit status. The container IDs for ``inspect`` come from ``ps -aq --no-trunc``,
run here with a 30 s timeout; its failure is recorded with the exit status and standard
error. An engine whose client or daemon the host does not have is recorded as "not
present". Podman is asked as root: rootless containers of other users are not listed.
Cost: under a second with a few containers.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from collectors._util import error, skipped, which
from collectors.base import (
    CollectContext,
    Collector,
    CommandRecord,
    Host,
    NotCompatible,
    Observation,
    Volatility,
    register_collector,
)

DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
LIST_TIMEOUT_S = 30


def docker_daemon() -> str | None:
    """Where the docker daemon listens (``DOCKER_HOST`` or a socket that exists), or None."""
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        path = host[len("unix://") :]
        return host if Path(path).exists() else None
    if host:
        return host  # tcp:// or ssh://: the client will say whether it answers
    return next((f"unix://{s}" for s in DOCKER_SOCKETS if Path(s).exists()), None)


def container_ids(argv: list[str]) -> tuple[list[str], str | None]:
    """The IDs that ``argv`` (``... ps -aq --no-trunc``) prints, or why they could not be had."""
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=LIST_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [], f"{' '.join(argv)}: no answer within {LIST_TIMEOUT_S} s"
    except OSError as exc:
        return [], f"{' '.join(argv)}: cannot run: {exc.strerror or exc}"
    if done.returncode != 0:
        tail = done.stderr.strip()[-500:]
        return [], f"{' '.join(argv)}: exit status {done.returncode}: {tail}"
    return done.stdout.split(), None


def _engine(name: str, ps_format: str, ps_description: str) -> Iterator[Observation]:
    yield CommandRecord(
        f"volatile/containers_{name}_ps.json",
        (name, "ps", "-a", "--no-trunc", "--format", ps_format),
        ps_description,
        timeout_s=60,
    )
    ids, why = container_ids([name, "ps", "-aq", "--no-trunc"])
    if why is not None:
        yield error(f"containers: {why}")
    elif ids:
        yield CommandRecord(
            f"volatile/containers_{name}_inspect.json",
            (name, "inspect", *ids),
            f"{name} inspect of {len(ids)} containers: configuration, mounts, state, network",
            timeout_s=120,
        )


@register_collector
class Containers(Collector):
    """Docker and podman containers (ps -a and inspect of each), when the engines are present."""

    name = "containers"
    volatility = Volatility.PROCESSES
    description = "Containers: docker/podman ps -a and inspect (under 1 s with a few containers)"
    options_schema: ClassVar[dict[str, Any]] = {}

    def check_compatible(self, host: Host) -> None:
        if host.system != "Linux":
            raise NotCompatible("docker and podman are read on Linux hosts")

    def collect(self, ctx: CollectContext) -> Iterator[Observation]:
        daemon = docker_daemon()
        if which("docker") is None:
            where = f" (a daemon listens at {daemon})" if daemon else ""
            yield skipped(f"containers: docker client not present{where}")
        elif daemon is None:
            yield skipped(
                "containers: docker daemon not present (no DOCKER_HOST, no "
                f"{' or '.join(DOCKER_SOCKETS)})"
            )
        else:
            yield from _engine("docker", "{{json .}}", "docker ps -a: every container, JSON lines")
        if which("podman") is None:
            yield skipped("containers: podman not present")
        else:
            yield from _engine("podman", "json", "podman ps -a: every container, a JSON array")
