#!/usr/bin/env bash
# Create a virtual environment and install photostation into it.
#   scripts/install.sh [--locked | --latest | --lowest] [--test] [--venv DIR]
#     --locked  (default) the exact, hash-checked versions of requirements.lock
#               (requirements-test.lock with --test): what CI tests and clinics install
#     --latest  the newest releases the bounds in pyproject.toml allow, to catch a new
#               OpenCV, NumPy, scikit-image or Streamlit before users meet it
#     --lowest  every direct dependency at the lower bound pyproject.toml declares
#     --test    add the test extras (pytest, Hypothesis, psycopg, Playwright)
#     --venv    where the environment goes (default .venv)
# Run from anywhere; it works in the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=locked; extras=postgres; venv=.venv
while [ $# -gt 0 ]; do
  case "$1" in
    --locked) mode=locked ;;
    --latest) mode=latest ;;
    --lowest) mode=lowest ;;
    --test) extras=postgres,test ;;
    --venv) venv="$2"; shift ;;
    *) echo "install.sh: unknown option $1 (see the comment at the top of scripts/install.sh)" >&2; exit 2 ;;
  esac
  shift
done

python3 -m venv "$venv"
py="$venv/bin/python"
case "$mode" in
  locked)
    lock=requirements.lock
    [ "$extras" = postgres ] || lock=requirements-test.lock
    "$py" -m pip install -q --require-hashes -r "$lock"
    # The project itself is not in the lock (it is this checkout); its dependencies are.
    "$py" -m pip install -q --no-deps -e .
    ;;
  latest)
    "$py" -m pip install -q --upgrade pip
    "$py" -m pip install -q --upgrade --upgrade-strategy eager -e ".[$extras]"
    ;;
  lowest)
    constraints="$venv/lowest-constraints.txt"
    # pyproject's lower bounds (">=X") as exact pins of the direct dependencies.
    "$py" - "$extras" > "$constraints" <<'PY'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
requirements = list(project["dependencies"])
for extra in sys.argv[1].split(","):
    requirements += project["optional-dependencies"][extra]
for requirement in requirements:
    match = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)", requirement)
    if match:
        print(f"{match.group(1)}=={match.group(3)}")
PY
    "$py" -m pip install -q --upgrade pip
    "$py" -m pip install -q -c "$constraints" -e ".[$extras]"
    ;;
esac
