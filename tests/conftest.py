from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from photostation.protocol import load_protocol

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# The shared real camera files: $PHOTOSTATION_REALDATA, else ../shared/realdata beside the
# checkout, else the workplace's /work/shared/realdata.
_REALDATA_CANDIDATES = [Path(p) for p in (os.environ.get("PHOTOSTATION_REALDATA"),) if p] + [
    ROOT.parent / "shared" / "realdata", Path("/work/shared/realdata")]
REALDATA = next((p for p in _REALDATA_CANDIDATES if (p / "exif-samples").is_dir()),
                _REALDATA_CANDIDATES[0]) / "exif-samples"
# A fixed "now" so time-dependent rules give the same answer on every day the tests run.
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.timezone.utc)


def pytest_configure(config):
    if not REALDATA.is_dir():
        raise pytest.UsageError(f"real sample files not found at {REALDATA} (set PHOTOSTATION_REALDATA)")


@pytest.fixture(scope="session")
def protocol():
    return load_protocol()


@pytest.fixture
def real():
    """Path of a real sample file, e.g. real('jpg/hdr/canon_hdr_NO.jpg')."""
    return lambda relative: REALDATA / relative


def _find_pg_bin(name: str) -> str | None:
    import glob
    import shutil

    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A real PostgreSQL server for the ledger tests: $PHOTOSTATION_TEST_PG_URL, or a private
    throw-away cluster started here with the installed PostgreSQL binaries (Debian package
    `postgresql`, installed by the README's test command)."""
    import shutil
    import subprocess

    if os.environ.get("PHOTOSTATION_TEST_PG_URL"):
        yield os.environ["PHOTOSTATION_TEST_PG_URL"]
        return
    initdb, pg_ctl = _find_pg_bin("initdb"), _find_pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.fail("PostgreSQL is not installed: run the README's test command (it installs Debian's postgresql)")
    import tempfile

    # Not under pytest's tmp dir: that is private to this user, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="photostation-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        os.chmod(base, 0o755)
    def run(*cmd):
        done = subprocess.run(as_user + list(cmd), capture_output=True, text=True)
        if done.returncode:
            pytest.fail(f"{cmd[0]} failed: {done.stderr.strip()[-500:]}")

    run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    run(pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
        f"-k {sock} -c listen_addresses='' -p 54329", "start")
    try:
        run(_find_pg_bin("createdb") or "createdb", "-h", str(sock), "-p", "54329", "-U", "postgres", "photostation")
        yield f"postgresql+psycopg://postgres@/photostation?host={sock}&port=54329"
    finally:
        run(pg_ctl, "-D", str(data), "-w", "-m", "fast", "stop")
        shutil.rmtree(base, ignore_errors=True)
