"""The kernel collector on this machine's real /proc, /sys and /dev/kmsg, and its parsers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from collectors.base import CommandRecord, Problem, VolatileRecord
from collectors.kernel import (
    decode_taint,
    module_observations,
    parse_kmsg,
    read_kmsg,
    read_sysctl,
    sysctl_name,
)
from tests.collectors.helpers import as_nobody, jsonl, member, problems


def _json(obs: list, name: str) -> dict:
    return json.loads(member(obs, name))


def test_summary_matches_this_kernel(run) -> None:
    obs = run("kernel")
    summary = _json(obs, "volatile/kernel.json")
    assert summary["cmdline"] == Path("/proc/cmdline").read_text()
    assert summary["version"] == Path("/proc/version").read_text()
    tainted = int(Path("/proc/sys/kernel/tainted").read_text())
    assert summary["taint"] == {"value": tainted, "flags": decode_taint(tainted)}
    init = summary["init"]
    assert init["pid"] == 1
    assert init["comm"] == Path("/proc/1/comm").read_text().rstrip("\n")
    try:
        assert init["exe"] == os.readlink("/proc/1/exe")
    except PermissionError:  # this VM's init hides its executable even from root
        assert init["exe"] is None and init["exe_error"] == "Permission denied"
    assert init["systemd"] == (Path("/run/systemd/system").is_dir() or init["comm"] == "systemd")
    assert summary["sysctl"]["values"] > 100
    assert summary["dmesg"]["source"] == "/dev/kmsg"


def test_modules_recorded_or_their_absence_is(run) -> None:
    obs = run("kernel")
    summary = _json(obs, "volatile/kernel.json")
    if Path("/proc/modules").exists():
        assert member(obs, "volatile/kernel_modules.txt") == Path("/proc/modules").read_bytes()
        assert summary["modules"]["present"] is True
    else:
        assert summary["modules"]["present"] is False
        absent = [p for p in problems(obs) if p.path == b"/proc/modules"]
        assert len(absent) == 1 and absent[0].kind == "skipped"
        assert absent[0].reason.startswith("not present: /proc/modules does not exist")
        assert not any(getattr(o, "member", "").startswith("volatile/kernel_modules") for o in obs)


def test_modules_from_a_real_file_and_from_none(tmp_path: Path) -> None:
    text = b"loop 40960 0 - Live 0x0000000000000000 (E)\nfoo 16384 1 loop, Live 0x0 (OE)\n"
    table = tmp_path / "modules"
    table.write_bytes(text)
    summary: dict = {}
    found: list[Problem] = []
    obs = list(module_observations(summary, found, str(table)))
    assert found == []
    assert member(obs, "volatile/kernel_modules.txt") == text
    mods = jsonl(obs, "volatile/kernel_modules.jsonl")
    assert [(m["name"], m["taint"], m["used_by"]) for m in mods] == [
        ("loop", "E", []),
        ("foo", "OE", ["loop"]),
    ]
    assert summary["modules"]["present"] is True and summary["modules"]["count"] == 2
    summary = {}
    assert list(module_observations(summary, found, str(tmp_path / "absent"))) == []
    assert [p.kind for p in found] == ["skipped"]
    assert found[0].reason.startswith(f"not present: {tmp_path / 'absent'} does not exist")


def test_sysctl_values_are_exact_write_only_listed_errors_counted(run) -> None:
    obs = run("kernel")
    record = _json(obs, "volatile/sysctl.json")
    values = record["values"]
    assert values["kernel.ostype"] == "Linux\n"
    assert values["kernel.hostname"] == Path("/proc/sys/kernel/hostname").read_text()
    assert values["kernel.tainted"] == Path("/proc/sys/kernel/tainted").read_text()
    for key in ("vm.drop_caches", "vm.compact_memory", "net.ipv4.route.flush"):
        path = Path("/proc/sys", key.replace(".", "/"))
        if path.exists() and not path.stat().st_mode & 0o444:
            assert key in record["write_only"] and key not in values
    # stable_secret reads EIO while no secret is set: an error of that key, counted.
    secret = Path("/proc/sys/net/ipv6/conf/lo/stable_secret")
    if secret.exists():
        try:
            secret.read_bytes()
        except OSError as exc:
            assert record["errors"]["net.ipv6.conf.lo.stable_secret"] == exc.strerror
    assert sum(record["error_counts"].values()) == len(record["errors"])
    total = len(values) + len(record["write_only"]) + len(record["errors"])
    assert total == sum(len(files) for _, _, files in os.walk("/proc/sys"))


def test_sysctl_refusals_as_an_unprivileged_user_are_per_key_errors() -> None:
    record, walk_problems = as_nobody(read_sysctl)
    root_only = [
        p
        for p in Path("/proc/sys/kernel").iterdir()
        if p.is_file() and p.stat().st_mode & 0o444 == 0o400
    ]
    assert root_only, "expected a root-only kernel key (cad_pid, ...)"
    for path in root_only:
        assert record["errors"][f"kernel.{path.name}"] == "Permission denied"
    assert record["error_counts"]["Permission denied"] >= len(root_only)
    assert record["values"]["kernel.ostype"] == "Linux\n"
    assert walk_problems == []


def test_sysctl_names_follow_sysctl8() -> None:
    assert sysctl_name(b"net/ipv4/conf/eth0.100/forwarding") == "net.ipv4.conf.eth0/100.forwarding"
    assert sysctl_name(b"kernel/hostname") == "kernel.hostname"


def test_ring_buffer_read_whole_without_consuming_it() -> None:
    marker = f"chainproof-test-{os.getpid()}-{os.urandom(4).hex()}"
    with open("/dev/kmsg", "w") as kmsg:
        kmsg.write(f"<5>{marker}\n")
    first, _ = read_kmsg()
    second, _ = read_kmsg()
    records = parse_kmsg(first)
    mine = [r for r in records if r["message"] == marker]
    assert len(mine) == 1 and mine[0]["level"] == "notice" and mine[0]["facility"] == 1
    assert marker.encode() in second  # reading did not consume it
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    heads = [line for line in first.split(b"\n") if line and not line.startswith(b" ")]
    assert len(heads) == len(records)


def test_ring_buffer_members_raw_and_parsed(run) -> None:
    obs = run("kernel")
    raw = member(obs, "volatile/kmsg.txt")
    parsed = jsonl(obs, "volatile/kmsg.jsonl")
    assert parsed == json.loads(json.dumps(parse_kmsg(raw)))
    assert _json(obs, "volatile/kernel.json")["dmesg"]["records"] == len(parsed)


def test_parse_kmsg_with_continuation_lines() -> None:
    raw = (
        b"6,339,2000,-;usb 1-1: new device\n SUBSYSTEM=usb\n DEVICE=c189:1\n"
        b"12,340,2500,c,more;from user space\n"
    )
    assert parse_kmsg(raw) == [
        {
            "seq": 339,
            "usec": 2000,
            "level": "info",
            "facility": 0,
            "flags": "-",
            "message": "usb 1-1: new device",
            "fields": {"SUBSYSTEM": "usb", "DEVICE": "c189:1"},
        },
        {
            "seq": 340,
            "usec": 2500,
            "level": "warning",
            "facility": 1,
            "flags": "c",
            "message": "from user space",
            "fields": {},
        },
    ]


def test_ring_buffer_refused_falls_back_to_the_dmesg_command(run) -> None:
    def collect() -> list:
        from collectors import REGISTRY
        from collectors.base import CollectContext, Host

        ctx = CollectContext(Host.this(), {"sysctl": False}, Path("/nonexistent-case"))
        return list(REGISTRY["kernel"]().collect(ctx))

    if Path("/proc/sys/kernel/dmesg_restrict").read_text().strip() != "1":
        obs = run("kernel")  # an unprivileged user may read it here: no fallback needed
        assert member(obs, "volatile/kmsg.txt")
        return
    obs = as_nobody(collect)
    summary = _json(obs, "volatile/kernel.json")
    assert summary["dmesg"]["kmsg_error"] == "Operation not permitted"
    commands = [o for o in obs if isinstance(o, CommandRecord)]
    if shutil.which("dmesg"):
        dmesg = next(c for c in commands if c.member == "volatile/dmesg.txt")
        assert dmesg.argv == ("dmesg", "--raw")
    else:
        assert any(p.reason.startswith("not present: no readable /dev/kmsg") for p in problems(obs))


def test_taint_flags_are_named() -> None:
    assert decode_taint(0) == []
    flags = decode_taint(1 << 0 | 1 << 12 | 1 << 13 | 1 << 30)
    assert [(f["bit"], f["letter"]) for f in flags] == [(0, "P"), (12, "O"), (13, "E"), (30, "?")]
    assert flags[1]["meaning"] == "externally-built (out-of-tree) module was loaded"


def test_bpf_programs_listed_or_bpftool_absence_recorded(run) -> None:
    obs = run("kernel")
    if shutil.which("bpftool"):
        bpf = next(o for o in obs if isinstance(o, CommandRecord))
        assert bpf.argv == ("bpftool", "prog", "show", "--json")
    else:
        absent = [p for p in problems(obs) if "bpftool" in p.reason]
        assert [p.kind for p in absent] == ["skipped"]
        assert absent[0].reason.startswith("not present: bpftool")


def test_parts_can_be_left_out(run) -> None:
    obs = run("kernel", modules=False, sysctl=False, dmesg=False, bpf=False)
    assert [o.member for o in obs if isinstance(o, VolatileRecord)] == ["volatile/kernel.json"]
    assert not any(isinstance(o, CommandRecord) for o in obs)
    assert problems(obs) == []


def test_persistence_says_when_systemd_is_not_init(run) -> None:
    obs = run("persistence")
    commands = [o for o in obs if isinstance(o, CommandRecord)]
    absent = [p for p in problems(obs) if "systemctl listings not taken" in p.reason]
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        assert commands and not absent
    else:
        comm = Path("/proc/1/comm").read_text().strip()
        assert not commands
        assert [p.kind for p in absent] == ["skipped"]
        assert absent[0].reason.startswith("not present: ")
        assert f"PID 1 is {comm}" in absent[0].reason


def test_reads_leave_no_trace_in_the_output_dir(run, tmp_path: Path) -> None:
    out = tmp_path / "case"
    run("kernel", output_dir=out)
    assert list(out.iterdir()) == []
