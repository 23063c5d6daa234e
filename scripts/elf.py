"""Just enough of ELF (64-bit, little-endian) for the build: dynamic symbols and DT_NEEDED.

Used by build.spec and scripts/prune_icu.py on Linux, where ``ldd`` (and PyInstaller's
``get_imports``, built on it) gives only the transitive closure of a library's dependencies,
not the direct edges needed to tell which libraries only a dropped one pulled in.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SHT_DYNAMIC = 6
_SHT_DYNSYM = 11
_DT_NEEDED = 1


class ElfError(ValueError):
    """Not a 64-bit little-endian ELF file."""


@dataclass(frozen=True)
class Section:
    type: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


@dataclass(frozen=True)
class Symbol:
    name: str
    file_offset: int
    size: int


def sections(elf: bytes) -> list[Section]:
    """The section headers of ``elf``."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ElfError("not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    out = []
    for i in range(shnum):
        _, kind, _, addr, offset, size, link, _, _, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", elf, shoff + i * shentsize
        )
        out.append(Section(kind, addr, offset, size, link, entsize))
    return out


def _string(elf: bytes, at: int) -> str:
    return elf[at : elf.index(b"\0", at)].decode("utf-8", "replace")


def dynamic_symbols(elf: bytes) -> Iterator[Symbol]:
    """The exported symbols of ``elf`` with their file offsets and sizes."""
    table = sections(elf)
    for section in table:
        if section.type != _SHT_DYNSYM:
            continue
        strtab = table[section.link].offset
        for at in range(section.offset, section.offset + section.size, section.entsize):
            st_name, _, _, shndx, value, size = struct.unpack_from("<IBBHQQ", elf, at)
            if 0 < shndx < len(table):
                home = table[shndx]
                yield Symbol(_string(elf, strtab + st_name), home.offset + value - home.addr, size)


def needed(path: Path) -> list[str]:
    """The DT_NEEDED entries of the ELF file at ``path``: its direct library dependencies."""
    elf = path.read_bytes()
    table = sections(elf)
    names = []
    for section in table:
        if section.type != _SHT_DYNAMIC:
            continue
        strtab = table[section.link].offset
        for at in range(section.offset, section.offset + section.size, 16):
            tag, value = struct.unpack_from("<qQ", elf, at)
            if tag == 0:
                break
            if tag == _DT_NEEDED:
                names.append(_string(elf, strtab + value))
    return names
