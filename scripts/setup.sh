#!/usr/bin/env bash
# Set up Chainproof on Debian/Ubuntu with Python 3.11+: system packages and a virtualenv in .venv.
#   scripts/setup.sh          what a collection needs
#   scripts/setup.sh --dev    plus what the tests need (Xvfb, Qt's X libraries, poppler, PostgreSQL,
#                             unzip, tcpdump: it reads captures back and is one capture path,
#                             sleuthkit: mactime reads the timeline's bodyfile, libcap2-bin:
#                             setcap/getcap check the capability sweep, strace: the triage
#                             soundness test traces what a collection opens and writes, and for
#                             the screen-reader test: D-Bus, the AT-SPI bus, python3-pyatspi, openbox)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

packages=(python3-venv python3-pip openssl tar coreutils)
if (( dev )); then
  packages+=(poppler-utils xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0
             libxcb-cursor0 libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0
             libxcb-sync1 libxcb-xfixes0 libxcb-xkb1 libx11-xcb1 libegl1 libgl1 libfontconfig1
             libdbus-1-3 fonts-dejavu-core postgresql unzip tcpdump sleuthkit libcap2-bin
             strace dbus at-spi2-core python3-pyatspi openbox)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "Installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required" >&2; exit 1; }
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if (( dev )); then
  .venv/bin/python -m pip install -q -e '.[dev]'
else
  .venv/bin/python -m pip install -q -e '.[gui]'
fi
# An editable install leaves our own modules uncompiled; where PYTHONDONTWRITEBYTECODE is set,
# every command would compile them again (0.3-0.4 s a start-up here). Stale files recompile.
.venv/bin/python -m compileall -q -j 0 app custody collectors ui >/dev/null
echo "Chainproof is set up in .venv ($(.venv/bin/chainproof --version))"
