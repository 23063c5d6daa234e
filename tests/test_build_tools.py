"""The build's own tools: scripts/elf.py and the ICU data pruning of scripts/prune_icu.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import elf  # noqa: E402
import prune_icu  # noqa: E402

LINUX = sys.platform.startswith("linux")
pytestmark = pytest.mark.skipif(not LINUX, reason="ELF libraries and the wheel's ICU: Linux")


def _qt_lib_dir() -> Path:
    import PySide6

    return Path(PySide6.__file__).parent / "Qt" / "lib"


@pytest.fixture(scope="module")
def icu_library() -> Path:
    found = sorted(_qt_lib_dir().glob("libicudata.so.*[0-9]"))
    assert found, "the PySide6 wheel ships its ICU data library on Linux"
    return found[0]


@pytest.fixture(scope="module")
def pruned(icu_library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("icu") / icu_library.name
    prune_icu.prune_library(icu_library, out)
    return out


def _package(library: Path) -> prune_icu.Package:
    data = library.read_bytes()
    symbol = prune_icu._icu_data_symbol(data)
    return prune_icu.Package.parse(data[symbol.file_offset : symbol.file_offset + symbol.size])


def test_needed_lists_direct_dependencies_only() -> None:
    qt_dbus = _qt_lib_dir() / "libQt6DBus.so.6"
    direct = elf.needed(qt_dbus)
    assert "libdbus-1.so.3" in direct and "libQt6Core.so.6" in direct
    ldd = subprocess.run(["ldd", str(qt_dbus)], capture_output=True, text=True, check=True)
    # ldd also lists what libdbus and QtCore pull in (libicuuc, ...); DT_NEEDED does not.
    assert "libicuuc.so" in ldd.stdout
    assert not any(name.startswith("libicuuc") for name in direct)


def test_not_elf_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "libfake.so"
    text.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(elf.ElfError):
        elf.needed(text)
    with pytest.raises(prune_icu.IcuDataError):
        prune_icu.prune_library(text, tmp_path / "out.so")
    with pytest.raises(prune_icu.IcuDataError, match="no icudtNN_dat"):
        prune_icu.prune_library(_qt_lib_dir() / "libQt6DBus.so.6", tmp_path / "out.so")


def test_keep_rules(icu_library: Path) -> None:
    single_byte = _package_item(icu_library, "ibm-5348_P100-1997.cnv")  # windows-1252
    multi_byte = _package_item(icu_library, "ibm-943_P15A-2003.cnv")  # Shift-JIS
    keep = prune_icu.keep_item
    assert keep(*single_byte) and not keep(*multi_byte)
    assert keep("icudt73l/coll/root.res", b"") and keep("icudt73l/coll/ucadata.icu", b"")
    assert keep("icudt73l/coll/en_GB.res", b"") and not keep("icudt73l/coll/de.res", b"")
    assert keep("icudt73l/zone/pool.res", b"") and keep("icudt73l/zone/res_index.res", b"")
    assert keep("icudt73l/supplementalData.res", b"") and keep("icudt73l/zoneinfo64.res", b"")
    assert keep("icudt73l/uts46.nrm", b"") and keep("icudt73l/brkitr/line.brk", b"")
    assert not keep("icudt73l/brkitr/cjdict.dict", b"")
    assert not keep("icudt73l/translit/root.res", b"") and not keep("icudt73l/ja.res", b"")


def _package_item(library: Path, leaf: str) -> tuple[str, bytes]:
    for name, data in _package(library).items:
        if name.endswith("/" + leaf):
            return name, data
    raise AssertionError(f"{leaf} not in the wheel's ICU data")


def test_pruned_package_keeps_items_byte_for_byte(icu_library: Path, pruned: Path) -> None:
    before = _package(icu_library)
    after = _package(pruned)
    assert pruned.stat().st_size == icu_library.stat().st_size  # same layout, zeros at the end
    expected = [(n, d) for n, d in before.items if prune_icu.keep_item(n, d)]
    assert [n for n, _ in after.items] == [n for n, _ in expected]
    assert 500 < len(after.items) < len(before.items) / 3
    for (name, data), (_, kept) in zip(expected[:-1], after.items[:-1], strict=True):
        # Each item is padded to 16 bytes, as pkgdata does.
        assert kept[: len(data)] == data, name
        assert kept[len(data) :] == b"\0" * (len(kept) - len(data))
    assert after.items[-1][1].startswith(expected[-1][1].rstrip(b"\0"))
    assert all(len(d) % 16 == 0 for _, d in after.items[:-1])
    data = pruned.read_bytes()
    symbol = prune_icu._icu_data_symbol(data)
    tail = data[symbol.file_offset + 6_000_000 : symbol.file_offset + symbol.size]
    assert tail.count(0) == len(tail) > 20_000_000  # what the build's zlib squeezes away


def test_pruned_library_serves_qt(pruned: Path) -> None:
    """Qt loads the pruned library and keeps its root-locale services; dropped data degrades."""
    probe = r"""
import json
from PySide6.QtCore import QCollator, QLocale, QStringDecoder, QTimeZone
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
label = QLabel("Ärger, naïve, Straße, İstanbul, 東京, Ελλάδα"); label.show(); app.processEvents()
maps = open("/proc/self/maps").read()
words = ["zebra", "Äpfel", "apple", "Zoo", "éclair"]
berlin = QTimeZone(b"Europe/Berlin")
print(json.dumps({
    "icudata": sorted({l.split()[-1] for l in maps.splitlines() if "libicudata" in l}),
    "sorted": sorted(words, key=QCollator(QLocale("en_US")).sortKey),
    "sorted_de": sorted(words, key=QCollator(QLocale("de_DE")).sortKey),
    "upper_tr": QLocale("tr_TR").toUpper("istanbul"),
    "berlin": [berlin.isValid(), berlin.displayName(QTimeZone.StandardTime, QTimeZone.LongName,
               QLocale("en_US"))],
    "codecs": {c: QStringDecoder(c).isValid() for c in ("windows-1252", "KOI8-R", "Shift-JIS")},
    "label": label.sizeHint().width() > 100,
}))
"""
    env = {**os.environ, "LD_LIBRARY_PATH": str(pruned.parent), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["icudata"] == [str(pruned)]
    assert result["sorted"] == ["Äpfel", "apple", "éclair", "zebra", "Zoo"]
    assert result["sorted_de"] == result["sorted"]  # German collation falls back to root
    assert result["upper_tr"] == "İSTANBUL"
    assert result["berlin"] == [True, "Central European Standard Time"]
    assert result["codecs"] == {"windows-1252": True, "KOI8-R": True, "Shift-JIS": False}
    assert result["label"]
