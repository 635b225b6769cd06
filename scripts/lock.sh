#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml's bounds: the newest versions the bounds allow,
# exact and with hashes, for every platform (the resolution is universal; CI tests it on
# Python 3.11 on Linux). Run it when you change a bound or want newer releases, then run
# scripts/test.sh (it installs from the new lock) and commit the lock files with the result.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv-tools
.venv-tools/bin/python -m pip install -q "uv>=0.13,<0.14"
uv=.venv-tools/bin/uv
common=(--universal --python-version 3.11 --generate-hashes --quiet)
"$uv" pip compile pyproject.toml --extra postgres --extra test "${common[@]}" -o requirements-test.lock
# The runtime lock takes the same versions as the test lock, less the test tools.
"$uv" pip compile pyproject.toml --extra postgres -c requirements-test.lock "${common[@]}" -o requirements.lock
echo "wrote requirements.lock and requirements-test.lock"
