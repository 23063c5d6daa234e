"""File capabilities: the ``security.capability`` attribute decoded to getcap's text form.

The attribute is a ``struct vfs_cap_data`` (linux/capability.h): a little-endian ``magic_etc``
(revision in the top byte, bit 0 the effective flag), then (permitted, inheritable) pairs of
32-bit words, one pair for revision 1 and two for revisions 2 and 3; revision 3 ends with
the namespace root uid. The text follows libcap's ``cap_to_text`` (what ``getcap`` prints):
the most common state is written first as ``=flags`` (left out when it is "none", and then
the first group says ``=``), then each other state with its capabilities, ``+flags`` added
and ``-flags`` taken away.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

XATTR = "security.capability"
CAP_NAMES = (
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
)
# A capability's state as a number: libcap 2.66 orders the groups it writes by this value,
# highest first (what getcap prints was matched case by case in tests/collectors/test_fscaps.py).
_EFF, _PER, _INH = 1, 2, 4
_REVISIONS = {0x01000000: 1, 0x02000000: 2, 0x03000000: 3}


@dataclass(frozen=True)
class FileCaps:
    """A decoded ``security.capability``: sets as bit masks, the revision and root uid."""

    revision: int
    effective: bool
    permitted: int
    inheritable: int
    rootid: int | None = None

    def text(self) -> str:
        """The capabilities as ``getcap`` writes them, e.g. ``cap_net_raw=ep``."""
        return caps_text(self)


def decode(raw: bytes) -> FileCaps:
    """A ``security.capability`` value decoded; ValueError when it is not one."""
    if len(raw) < 4:
        raise ValueError(f"{len(raw)} bytes: too short for vfs_cap_data")
    (magic,) = struct.unpack_from("<I", raw)
    revision = _REVISIONS.get(magic & 0xFF000000)
    if revision is None:
        raise ValueError(f"unknown vfs_cap_data revision 0x{magic & 0xFF000000:08x}")
    words = 2 if revision == 1 else 4
    want = 4 + 4 * words + (4 if revision == 3 else 0)
    if len(raw) < want:
        raise ValueError(f"{len(raw)} bytes: revision {revision} needs {want}")
    values = struct.unpack_from(f"<{words}I", raw, 4)
    permitted = values[0] | (values[2] << 32 if words == 4 else 0)
    inheritable = values[1] | (values[3] << 32 if words == 4 else 0)
    rootid = struct.unpack_from("<I", raw, 4 + 4 * words)[0] if revision == 3 else None
    return FileCaps(revision, bool(magic & 1), permitted, inheritable, rootid)


def _state(caps: FileCaps, bit: int) -> int:
    mask = 1 << bit
    state = (_PER if caps.permitted & mask else 0) | (_INH if caps.inheritable & mask else 0)
    if state and caps.effective:
        state |= _EFF
    return state


def _flags(state: int) -> str:
    return (
        ("e" if state & _EFF else "")
        + ("i" if state & _INH else "")
        + ("p" if state & _PER else "")
    )


def _name(bit: int) -> str:
    return CAP_NAMES[bit] if bit < len(CAP_NAMES) else str(bit)


def caps_text(caps: FileCaps) -> str:
    """libcap's ``cap_to_text`` for file capabilities, as getcap (libcap 2.66) prints it."""
    bits = max(len(CAP_NAMES), (caps.permitted | caps.inheritable).bit_length())
    states = [_state(caps, b) for b in range(bits)]
    histo = [states.count(s) for s in range(8)]
    common = 7
    for s in range(6, -1, -1):  # ties go to the lower state ("none" first)
        if histo[s] >= histo[common]:
            common = s
    parts = [f"={_flags(common)}"] if common else []
    for s in range(7, -1, -1):
        if s == common or not histo[s]:
            continue
        text = ",".join(_name(b) for b in range(bits) if states[b] == s)
        if added := s & ~common:
            text += ("+" if parts else "=") + _flags(added)
        if taken := ~s & common:
            text += "-" + _flags(taken)
        parts.append(text)
    return " ".join(parts) or "="
