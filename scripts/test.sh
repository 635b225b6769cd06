#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run them.
#   system (apt): ExifTool (metadata reference), PostgreSQL (ledger on a real server),
#                 Chromium (the review app tested in a real browser)
#   python: a virtual environment in .venv with photostation and its test extras
# Run from the repository root: scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(libimage-exiftool-perl postgresql chromium)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
exec .venv/bin/python -m pytest "$@"
