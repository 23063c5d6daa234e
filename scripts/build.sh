#!/usr/bin/env bash
# Build the one-file binary dist/chainproof with PyInstaller (build.spec); see docs/BUILD.md.
#   scripts/build.sh                          dist/chainproof: CLI and desktop app
#   CHAINPROOF_BUILD_GUI=0 scripts/build.sh   dist/chainproof-cli: CLI only, no Qt
# Extra arguments go to pyinstaller (e.g. --clean). Prints the binary's size and SHA-256 and
# writes the SHA-256 next to it (dist/chainproof.sha256, `sha256sum -c` format).
set -euo pipefail
cd "$(dirname "$0")/.."

name=chainproof
[[ "${CHAINPROOF_BUILD_GUI:-1}" == "0" ]] && name=chainproof-cli

# The binary bundles the build host's X libraries for Qt's xcb platform plugin: without
# libxcb-icccm4 and libxcb-keysyms1 it is built, but cannot open a window (PLATFORM.md).
if [[ "$name" == chainproof && "$(uname -s)" == Linux ]] && command -v dpkg-query >/dev/null; then
  packages=(libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-image0
            libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-sync1 libxcb-xfixes0
            libxcb-xkb1 libx11-xcb1 libegl1 libgl1 libfontconfig1 libdbus-1-3)
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if (( ${#missing[@]} )); then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    echo "Installing the X libraries Qt's xcb plugin needs: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
fi

PY=.venv/bin/python
[[ -x "$PY" ]] || PY=${PYTHON:-python3}
if [[ "$name" == chainproof && "$(uname -s)" == Linux ]]; then
  qxcb=$("$PY" -c 'import pathlib, PySide6; print(pathlib.Path(PySide6.__file__).parent / "Qt/plugins/platforms/libqxcb.so")')
  if [[ -f "$qxcb" ]] && ldd "$qxcb" | grep -q "not found"; then
    echo "Qt's xcb plugin misses libraries; the binary could not open a window:" >&2
    ldd "$qxcb" | grep "not found" >&2
    exit 1
  fi
fi

# PyInstaller orders some archive members by set iteration: a fixed hash seed makes two builds
# from the same tree and environment byte-identical (the same SHA-256).
export PYTHONHASHSEED=0
# PyInstaller compresses the Python modules (PYZ) at zlib level 6 by default, the rest at 9.
export PYINSTALLER_ZLIB_COMPRESSION_LEVEL=9
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --log-level WARN "$@" build.spec
seconds=$(( $(date +%s) - start ))

bin=dist/$name
[[ -f "$bin.exe" ]] && bin=$bin.exe
size=$(wc -c < "$bin")
digest=$("$PY" -c 'import hashlib, sys; print(hashlib.file_digest(open(sys.argv[1], "rb"), "sha256").hexdigest())' "$bin")
printf '%s  %s\n' "$digest" "$(basename "$bin")" > "dist/$name.sha256"
version=$("$bin" --version)
echo "Built $bin ($version) in ${seconds} s"
echo "  size    $size bytes ($(( (size + 524288) / 1048576 )) MiB)"
echo "  SHA-256 $digest"
