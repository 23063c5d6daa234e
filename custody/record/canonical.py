"""Canonical JSON (RFC 8785) and the hashes taken over it: one place for both."""

from __future__ import annotations

import hashlib
import json
from typing import Any

_MAX_SAFE = 2**53 - 1
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# JSONEncoder.encode builds its C encoder again on every call (about 4 us, as much as
# encoding a small payload): build it once, with the same settings. No circular-reference
# markers: its values are parsed JSON or made from it, and _plain walks them first for
# canonical_json (it would not return on a cycle).
_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # None without the C module
_C_ENCODER = (
    None
    if _make_encoder is None
    else _make_encoder(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )
)


def sorted_json(value: Any) -> str:
    """The stdlib encoder's compact JSON of ``value``, keys sorted (floats as Python writes
    them, NaN included): canonical for the values :func:`_plain` accepts, and a quick test
    of equality, types and all, between JSON values."""
    if _C_ENCODER is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODER(value, 0))


def _plain(value: Any) -> bool:
    """True when the stdlib encoder's output is already RFC 8785 canonical for ``value``.

    That holds without floats, with integers in the safe range, and with ASCII object keys
    (for which UTF-16 key order, as RFC 8785 sorts, equals code-point order, as Python sorts).
    String escaping is the same in both: short escapes for \\b \\t \\n \\f \\r, lower-case
    \\u00xx for other control characters, everything else raw UTF-8. Exact types only: a
    subclass (an enum, say) takes the rfc8785 path. Leaves are checked inline: this runs for
    every ledger entry written and verified.
    """
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                return False
            tv = type(v)
            if tv is str or v is None or tv is bool:
                continue
            if tv is int:
                if not -_MAX_SAFE <= v <= _MAX_SAFE:
                    return False
            elif not _plain(v):
                return False
        return True
    if t is str or t is bool or value is None:
        return True
    if t is int:
        return bool(-_MAX_SAFE <= value <= _MAX_SAFE)
    if t is list or t is tuple:
        return all(_plain(v) for v in value)
    return False


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` as RFC 8785 canonical JSON (UTF-8 bytes)."""
    if _plain(value):
        try:
            return sorted_json(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let rfc8785 refuse it with its own error
    import rfc8785  # lazy: only what the stdlib encoder cannot write needs it

    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
