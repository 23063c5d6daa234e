"""Shrink the ICU data library that the PySide6 wheels ship, for the one-file build.

Qt links ICU, and ICU's data library (``libicudata.so.NN``, 32 MB, 12 MB compressed) is the
largest single file in the binary. Chainproof's desktop app uses ICU only through Qt's
root-locale services (case mapping, normalisation, root collation, time-zone data); Qt brings
its own locale data for number and date formats, and its own UTF-8/16/32 and Latin-1 codecs.
This keeps every ICU data item except:

- the multi-byte code-page converters (``*.cnv`` for Shift-JIS, GB18030, Big5, EUC and the
  EBCDIC DBCS pages: 4.7 MB); the single-byte code pages (windows-125x, ISO-8859-x, KOI8,
  Mac, ...) stay, and ICU's algorithmic converters (UTF-*, US-ASCII, ISO-8859-1) are code;
- the word-break dictionaries for Chinese, Japanese, Thai, Khmer, Lao and Burmese
  (``brkitr/*.dict``); the rule-based breaks stay;
- transliteration rules (``translit/``);
- per-locale bundles other than ``root`` and English, in every tree (``coll/de.res`` and so
  on): a lookup for another locale falls back to root, as ICU does for any missing locale.

The data is an ICU "common data" package (format ``CmnD``, offset table of contents) in the
library's read-only data, exported as the symbol ``icudtNN_dat``. The kept items are written
back as a compact package at the same address and the rest of the symbol is zeroed, so the
library keeps its layout (no compiler or ICU tools needed) and the zeros compress to nothing.

    python scripts/prune_icu.py SRC_LIB DST_LIB
"""

from __future__ import annotations

import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import elf

_ALIGN = 16  # ICU data items are 16-byte aligned (pkgdata does the same)
_LOCALE_BUNDLE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9_]+)?\.res$")
_TREE_FILES = {"root.res", "pool.res", "res_index.res"}
_KEPT_LANGUAGES = ("en",)


class IcuDataError(ValueError):
    """The file is not an ELF library holding an ICU common data package."""


def keep_item(name: str, data: bytes) -> bool:
    """Whether the ICU item ``name`` (e.g. ``icudt73l/coll/de.res``) stays in the package."""
    parts = name.split("/")[1:]
    if not parts:
        return True
    leaf = parts[-1]
    if leaf.endswith(".cnv"):
        return _max_bytes_per_char(data) == 1
    if leaf.endswith(".dict") or parts[0] == "translit":
        return False
    if leaf in _TREE_FILES or not _LOCALE_BUNDLE.match(leaf):
        return True
    language = leaf.removesuffix(".res").split("_")[0]
    return language in _KEPT_LANGUAGES


def _max_bytes_per_char(cnv: bytes) -> int:
    # UConverterStaticData follows the item's data header: structSize, name[60], codepage,
    # platform, conversionType, minBytesPerChar, maxBytesPerChar.
    (header_size,) = struct.unpack_from("<H", cnv, 0)
    return cnv[header_size + 71]


@dataclass(frozen=True)
class Package:
    """An ICU common data package: its header bytes and its items, in table-of-contents order."""

    header: bytes
    items: list[tuple[str, bytes]]

    @classmethod
    def parse(cls, blob: bytes) -> Package:
        header_size, magic1, magic2 = struct.unpack_from("<HBB", blob, 0)
        if (magic1, magic2) != (0xDA, 0x27) or blob[12:16] != b"CmnD" or blob[16] != 1:
            raise IcuDataError("not an ICU common data package (CmnD, offset TOC)")
        if blob[8] != 0:
            raise IcuDataError("big-endian ICU data is not supported")
        (count,) = struct.unpack_from("<I", blob, header_size)
        toc = header_size
        entries = [struct.unpack_from("<II", blob, toc + 4 + 8 * i) for i in range(count)]
        items = []
        for i, (name_offset, data_offset) in enumerate(entries):
            name_end = blob.index(b"\0", toc + name_offset)
            name = blob[toc + name_offset : name_end].decode("ascii")
            # The last item runs to the end of the package (ICU itself gives it no length).
            end = entries[i + 1][1] if i + 1 < count else len(blob) - toc
            items.append((name, blob[toc + data_offset : toc + end]))
        return cls(header=blob[:header_size], items=items)

    def serialise(self) -> bytes:
        """The package as ICU reads it: header, TOC, names, then the 16-byte aligned items."""
        toc_size = 4 + 8 * len(self.items)
        names = b"".join(name.encode("ascii") + b"\0" for name, _ in self.items)
        data_start = _aligned(len(self.header) + toc_size + len(names)) - len(self.header)
        entries, name_offset, data_offset = [], toc_size, data_start
        for name, data in self.items:
            entries.append(struct.pack("<II", name_offset, data_offset))
            name_offset += len(name) + 1
            data_offset += _aligned(len(data))
        out = bytearray(self.header)
        out += struct.pack("<I", len(self.items)) + b"".join(entries) + names
        out += b"\0" * (len(self.header) + data_start - len(out))
        for _, data in self.items:
            out += data + b"\0" * (_aligned(len(data)) - len(data))
        return bytes(out)


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _icu_data_symbol(library: bytes) -> elf.Symbol:
    """The exported ``icudtNN_dat`` symbol of an ICU data library."""
    try:
        symbols = list(elf.dynamic_symbols(library))
    except elf.ElfError as e:
        raise IcuDataError(str(e)) from e
    for symbol in symbols:
        if re.fullmatch(r"icudt\d+_dat", symbol.name):
            return symbol
    raise IcuDataError("no icudtNN_dat symbol in the library")


@dataclass(frozen=True)
class PruneResult:
    kept: int
    dropped: int
    bytes_before: int
    bytes_after: int


def prune_library(src: Path, dst: Path) -> PruneResult:
    """Write ``dst``: the ICU data library ``src`` with only the items :func:`keep_item` keeps."""
    library = bytearray(src.read_bytes())
    symbol = _icu_data_symbol(library)
    region = bytes(library[symbol.file_offset : symbol.file_offset + symbol.size])
    package = Package.parse(region)
    kept = Package(package.header, [item for item in package.items if keep_item(*item)])
    blob = kept.serialise()
    if len(blob) > symbol.size:
        raise IcuDataError("the pruned package does not fit its symbol")
    library[symbol.file_offset : symbol.file_offset + symbol.size] = blob.ljust(symbol.size, b"\0")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(library)
    dst.chmod(src.stat().st_mode & 0o777)
    return PruneResult(
        kept=len(kept.items),
        dropped=len(package.items) - len(kept.items),
        bytes_before=sum(len(d) for _, d in package.items),
        bytes_after=sum(len(d) for _, d in kept.items),
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    result = prune_library(Path(argv[0]), Path(argv[1]))
    print(
        f"ICU data: kept {result.kept} items ({result.bytes_after:,} bytes), "
        f"dropped {result.dropped} ({result.bytes_before - result.bytes_after:,} bytes)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
