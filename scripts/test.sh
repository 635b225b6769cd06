#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run them.
#   system (apt): ExifTool (metadata reference), PostgreSQL (ledger on a real server),
#                 Chromium (the review app tested in a real browser)
#   python: a virtual environment with photostation and its test extras (scripts/install.sh)
# Run from the repository root:
#   scripts/test.sh [pytest arguments]            the locked versions (requirements-test.lock), in .venv
#   scripts/test.sh --latest [pytest arguments]   the newest versions pyproject.toml allows, in .venv-latest
#   scripts/test.sh --lowest [pytest arguments]   every direct dependency at its lower bound, in .venv-lowest
set -euo pipefail
cd "$(dirname "$0")/.."

mode=locked; venv=.venv
case "${1:-}" in
  --latest) mode=latest; venv=.venv-latest; shift ;;
  --lowest) mode=lowest; venv=.venv-lowest; shift ;;
esac

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

scripts/install.sh "--$mode" --test --venv "$venv"
# Say which versions this run tests: a failure under --latest names the release that broke it.
"$venv/bin/python" - <<'PY'
from importlib.metadata import version
names = ["opencv-contrib-python-headless", "numpy", "scipy", "scikit-image", "pillow", "pillow-heif",
         "colour-science", "streamlit", "sqlalchemy", "click", "exifread", "altair", "vl-convert-python", "dask",
         "distributed"]
print("testing with " + ", ".join(f"{n} {version(n)}" for n in names))
PY
exec "$venv/bin/python" -m pytest "$@"
