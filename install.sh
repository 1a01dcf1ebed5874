#!/usr/bin/env bash
# Installs a2lc-napari on Debian/Ubuntu: the system libraries napari needs
# (OpenGL, Qt's X11 libraries, a virtual screen for the tests), a virtual
# environment in .venv with the package and its test extras, then opens
# napari on the sample dataset with the correction widget docked.
#
#   bash install.sh            install, then open napari on the sample dataset
#   bash install.sh --no-demo  install only
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_PACKAGES="xvfb xauth libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0
  libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-xinerama0 libxcb-xfixes0 libxcb-shape0 libxcb-cursor0 libdbus-1-3 libfontconfig1"
# Debian's own Python makes virtual environments only with python3-venv.
python3 -c "import ensurepip, venv" 2>/dev/null || APT_PACKAGES="$APT_PACKAGES python3-venv"
# shellcheck disable=SC2086
if ! dpkg -s $APT_PACKAGES >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $APT_PACKAGES >/dev/null
fi

# A virtual environment of its own: Debian's Python refuses system-wide pip installs.
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
echo "Installed: .venv/bin/a2lc (or 'source .venv/bin/activate', then a2lc)"

if [ "${1:-}" != "--no-demo" ]; then
  exec .venv/bin/a2lc demo
fi
