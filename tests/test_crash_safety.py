"""Nothing lost, nothing doubled: ``ingest`` and ``audit`` killed with SIGKILL at points spread
over a whole run and run again end with exactly the rows of an uninterrupted run. The kill
points are a seeded random share of an uninterrupted run's time (so a failure can be
replayed); ``tests/test_audit.py`` also kills an audit in the middle of its comparisons."""
from __future__ import annotations

import random
import signal
import subprocess
import time

import pytest

from photostation.ingest import ingest_archive
from photostation.ledger import open_ledger
from pipelines.audit import SerialRunner, run_audit

from .test_audit import CLI, NOW, rows, small_archive

KILL_SEED = 17


def _kill_after(command: list[str], seconds: float) -> bool:
    """Start the command and SIGKILL it after ``seconds``; True when it was still running."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


@pytest.mark.parametrize("step", ["ingest", "audit"])
def test_killed_at_random_points_and_rerun_equals_an_uninterrupted_run(tmp_path, protocol, step):
    views = ("tricho-vertex", "vertex") if step == "ingest" else ("tricho-vertex",)
    archive = small_archive(tmp_path / "archive", patients=("P001", "P002"), views=views)
    reference = open_ledger(str(tmp_path / "reference.db"))
    if step == "ingest":
        ingest_archive(archive, reference, protocol, now=NOW)
    else:
        run_audit(archive, reference, protocol, db_url=None, runner=SerialRunner(), now=NOW)
    extra = ["--workers", "1"] if step == "audit" else []
    start = time.monotonic()
    timing = subprocess.run(CLI + [step, str(archive), "--db", str(tmp_path / "timing.db"), *extra],
                            capture_output=True, text=True, timeout=900)
    whole = time.monotonic() - start
    assert timing.returncode in (0, 1), timing.stderr
    chances = random.Random(KILL_SEED)
    killed = 0
    for attempt in range(3):
        ledger = tmp_path / f"killed-{attempt}.db"
        command = CLI + [step, str(archive), "--db", str(ledger), *extra]
        # Killed once at a random point, then the re-run killed again earlier (it skips what
        # was finished), then a run to the end: interrupted twice, nothing lost or doubled.
        killed += _kill_after(command, chances.uniform(0.1, 0.7) * whole)
        killed += _kill_after(command, chances.uniform(0.05, 0.4) * whole)
        finished = subprocess.run(command, capture_output=True, text=True, timeout=900)
        assert finished.returncode in (0, 1), finished.stderr
        got, expected = rows(open_ledger(str(ledger))), rows(reference)
        assert got == expected, {k: (got[k], expected[k]) for k in got if got[k] != expected[k]}
    # Most kill points fall inside a run; a run that happened to end first kills nothing.
    assert killed >= 3, f"only {killed} of 6 runs were killed before they ended"
