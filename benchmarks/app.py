"""Review-app benchmark: how long each page takes to answer on the sample archive.

The sample archive is copied and ingested into a temporary SQLite ledger, then the app is
driven with Streamlit's ``AppTest`` (the same script runs as in the browser, without the
network and the browser's drawing): each page's first load, a change of choice, the Capture
check of a drifted 1.6 MP shot (first and second), Compare's first computation and the
re-read of the stored result, the Audit page's first load, a filter, and preparing the
report. Target: every interaction that reads the ledger under 1 s; the ones that compute
(Capture's check, Compare, the report) show a spinner and are timed against their own targets
(check under 2 s).

Run ``.venv/bin/python benchmarks/app.py``. Timings depend on the machine's load (printed).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

from streamlit.testing.v1 import AppTest  # noqa: E402

from photostation.ingest import ingest_archive  # noqa: E402
from photostation.ledger import open_ledger  # noqa: E402
from photostation.protocol import load_protocol  # noqa: E402

ROOT = HERE.parent
READ_TARGET_S = 1.0
CHECK_TARGET_S = 2.0


def timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def main() -> int:
    rows: list[tuple[str, float, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="photostation-app-bench-") as folder:
        archive = Path(folder) / "archive"
        shutil.copytree(ROOT / "sample_images", archive)
        db = Path(folder) / "ledger.db"
        ingest_archive(archive, open_ledger(str(db)), load_protocol())
        os.environ["PHOTOSTATION_DB"] = f"sqlite:///{db}"

        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        rows.append(("Visits: first load (imports, caches cold)", timed(at.run), None))
        rows.append(("Visits: load again", timed(at.run), READ_TARGET_S))
        rows.append(("Visits: choose another visit", timed(lambda: at.selectbox(key="visit").select_index(1).run()),
                     READ_TARGET_S))

        at.switch_page("app_pages/capture.py")
        rows.append(("Capture: open", timed(at.run), READ_TARGET_S))
        at.text_input(key="capture_operator").input("op-anna").run()
        shot = (ROOT / "sample_images" / "P003" / "month-6" / "vertex.jpg").read_bytes()
        uploader = at.file_uploader(key="capture_upload_0")
        rows.append(("Capture: check a drifted shot, first", timed(
            lambda: uploader.set_value(("a.jpg", shot, "image/jpeg")).run()), CHECK_TARGET_S))
        assert not at.exception, at.exception
        rows.append(("Capture: same shot again (cached)", timed(at.run), READ_TARGET_S))
        again = shot[:-2] + b"\x00" + shot[-2:]  # other bytes, same picture: checked again
        rows.append(("Capture: check a drifted shot, second", timed(
            lambda: at.file_uploader(key="capture_upload_0").set_value(("b.jpg", again, "image/jpeg")).run()),
            CHECK_TARGET_S))

        at.query_params.update(patient="P001", pair="month-6/tricho-vertex")
        at.switch_page("app_pages/compare.py")
        rows.append(("Compare: open (not compared yet)", timed(at.run), READ_TARGET_S))
        at.number_input(key="compare_scale").set_value(0.006247).run()
        rows.append(("Compare: compute and store (spinner)", timed(
            lambda: at.button(key="compare_run").click().run()), None))
        assert not at.exception, at.exception
        rows.append(("Compare: stored result, views drawn", timed(at.run), READ_TARGET_S))
        rows.append(("Compare: move the wipe", timed(lambda: at.slider(key="wipe_at").set_value(0.3).run()),
                     READ_TARGET_S))

        at.switch_page("app_pages/audit.py")
        rows.append(("Audit: first load (summary, charts)", timed(at.run), None))
        rows.append(("Audit: load again", timed(at.run), READ_TARGET_S))
        rows.append(("Audit: filter by rule", timed(
            lambda: at.multiselect(key="audit_rules").select("camera.iso").run()), READ_TARGET_S))
        rows.append(("Audit: prepare the report (spinner)", timed(
            lambda: at.button(key="report_prepare").click().run()), None))
        assert not at.exception, at.exception

    print(f"\n== Review app on the sample archive (18 photos), AppTest; load average "
          f"{os.getloadavg()[0]:.2f} ==")
    print(f"{'interaction':48} {'seconds':>8} {'target':>8} {'met':>5}")
    for name, seconds, target in rows:
        met = "" if target is None else ("yes" if seconds <= target else "NO")
        print(f"{name:48} {seconds:8.2f} {'' if target is None else f'<= {target:g}':>8} {met:>5}")
    targeted = [(name, seconds, target) for name, seconds, target in rows if target is not None]
    missed = [name for name, seconds, target in targeted if seconds > target]
    print(f"\n{len(targeted) - len(missed)} of {len(targeted)} interactions with a target met it"
          + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
