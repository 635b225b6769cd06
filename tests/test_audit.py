"""The clinic audit (pipelines/audit.py, ``photostation audit``): everything stored, incremental,
resumable after SIGKILL, on a Dask cluster, on PostgreSQL, two audits on one ledger."""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from photostation.ledger import CheckRecord, ComparisonRecord, Measurement, Patient, Photo, Visit, open_ledger
from pipelines.audit import SerialRunner, run_audit
from pipelines.audit_summary import audit_summary

SAMPLE = Path(__file__).resolve().parents[1] / "sample_images"
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
CLI = [sys.executable, "-m", "photostation_cli.main"]


def small_archive(folder: Path, patients=("P001", "P002"), views=("tricho-vertex",)) -> Path:
    """A copy of part of the sample archive: the given patients and views, both visits."""
    for patient in patients:
        for visit in ("baseline", "month-6"):
            (folder / patient / visit).mkdir(parents=True)
            for view in views:
                shutil.copy(SAMPLE / patient / visit / f"{view}.jpg", folder / patient / visit / f"{view}.jpg")
    with open(SAMPLE / "manifest.csv", newline="") as src, open(folder / "manifest.csv", "w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            if row["patient"] in patients and row["view"] in ("", *views):
                writer.writerow(row)
    return folder


def rows(factory) -> dict[str, object]:
    """What an audit wrote, in a form two ledgers can be compared by."""
    with factory() as session:
        comparisons = sorted((session.get(Photo, c.followup_photo_id).relative_path, c.comparable, c.outcome,
                              json.dumps(c.result, sort_keys=True))
                             for c in session.scalars(select(ComparisonRecord)))
        checks = sorted((c.photo_id and session.get(Photo, c.photo_id).relative_path, c.scope, c.name, c.status)
                        for c in session.scalars(select(CheckRecord)) if c.photo_id)
        return {"comparisons": comparisons, "checks": checks,
                "measurements": session.scalar(select(func.count(Measurement.id))),
                "photos": session.scalar(select(func.count(Photo.id))),
                "visits": session.scalar(select(func.count(Visit.id))),
                "patients": session.scalar(select(func.count(Patient.id)))}


@pytest.fixture(scope="module")
def audited(tmp_path_factory, protocol):
    folder = tmp_path_factory.mktemp("audit")
    archive = small_archive(folder / "archive")
    factory = open_ledger(str(folder / "ledger.db"))
    run = run_audit(archive, factory, protocol, db_url=None, runner=SerialRunner(), now=NOW)
    return archive, factory, run


def test_every_follow_up_is_compared_and_stored_with_its_values(audited):
    _, factory, run = audited
    assert run.pairs == 2 and run.compared == 2 and not run.failed_pairs
    with factory() as session:
        stored = session.scalars(select(ComparisonRecord)).all()
        assert len(stored) == 2
        for record in stored:
            follow = session.get(Photo, record.followup_photo_id)
            assert follow.visit.label == "month-6" and record.kind == "trichoscopy"
            assert record.result["registration"]["inliers"] > 0
            assert record.thumbnail_baseline[:2] == b"\xff\xd8"  # a JPEG
            # the image comparisons against the baseline are checks of the follow-up, with values
            compare_checks = {c.name: c for c in session.scalars(select(CheckRecord).where(
                CheckRecord.photo_id == follow.id, CheckRecord.scope == "compare"))}
            assert {"pose.roll_deg", "exposure.difference_ev", "white_balance.shift_mired"} <= set(compare_checks)
            assert isinstance(compare_checks["pose.roll_deg"].value, float)


def test_a_rerun_of_an_unchanged_archive_touches_nothing(audited, protocol):
    archive, factory, _ = audited
    before = rows(factory)
    again = run_audit(archive, factory, protocol, db_url=None, runner=SerialRunner(), now=NOW)
    assert again.compared == 0 and again.pairs == 2
    assert again.ingest.unchanged == again.ingest.photos == 4
    assert rows(factory) == before


def test_a_new_patient_is_all_a_rerun_does(tmp_path, protocol):
    archive = small_archive(tmp_path / "archive", patients=("P001",))
    factory = open_ledger(str(tmp_path / "ledger.db"))
    run_audit(archive, factory, protocol, db_url=None, runner=SerialRunner(), now=NOW)
    for visit in ("baseline", "month-6"):
        (archive / "P003" / visit).mkdir(parents=True)
        shutil.copy(SAMPLE / "P003" / visit / "tricho-vertex.jpg", archive / "P003" / visit / "tricho-vertex.jpg")
    run = run_audit(archive, factory, protocol, db_url=None, runner=SerialRunner(), now=NOW)
    assert run.compared == 1 and run.pairs == 2
    assert run.ingest.added == 2 and run.ingest.unchanged == 2


def test_summary_reads_pairs_checks_and_findings(audited, protocol):
    _, factory, _ = audited
    summary = audit_summary(factory, protocol)
    assert summary.patients == 2 and summary.photos == 4 and len(summary.pairs) == 2
    assert {p.patient for p in summary.pairs} == {"P001", "P002"}
    # both visits lack the vertex and mid-scalp views the protocol requires: one finding each
    assert sum(1 for f in summary.findings if f.kind == "missing-views") == 4
    assert any(f.kind == "station-without-profile" for f in summary.findings)
    assert any(c.scope == "compare" for c in summary.checks)


def test_killed_audit_completes_on_rerun_with_the_rows_of_an_uninterrupted_run(tmp_path, protocol):
    archive = small_archive(tmp_path / "archive", patients=("P001", "P002", "P003"))
    reference = open_ledger(str(tmp_path / "reference.db"))
    run_audit(archive, reference, protocol, db_url=None, runner=SerialRunner(), now=NOW)

    ledger = tmp_path / "killed.db"
    command = CLI + ["audit", str(archive), "--db", str(ledger), "--workers", "1"]
    env = dict(os.environ)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    factory = open_ledger(str(ledger))
    deadline = time.monotonic() + 300
    # Kill it in the middle of the comparisons: one stored, others not yet.
    while time.monotonic() < deadline and process.poll() is None:
        with factory() as session:
            if session.scalar(select(func.count(ComparisonRecord.id))) >= 1:
                break
        time.sleep(0.05)
    assert process.poll() is None, "the audit ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    with factory() as session:
        assert session.scalar(select(func.count(ComparisonRecord.id))) < 3
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert finished.returncode in (0, 1), finished.stderr
    assert rows(factory) == rows(reference)


def test_two_audits_on_one_ledger_neither_corrupt_nor_double(tmp_path, protocol):
    archive = small_archive(tmp_path / "archive")
    ledger = tmp_path / "shared.db"
    command = CLI + ["audit", str(archive), "--db", str(ledger), "--workers", "1", "--json"]
    env = dict(os.environ)
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for process in (first, second):
        _, err = process.communicate(timeout=600)
        assert process.returncode in (0, 1), err
    factory = open_ledger(str(ledger))
    reference = open_ledger(str(tmp_path / "reference.db"))
    run_audit(archive, reference, protocol, db_url=None, runner=SerialRunner(), now=NOW)
    assert rows(factory) == rows(reference)


def test_audit_on_a_dask_cluster(tmp_path, protocol):
    from distributed import LocalCluster

    from pipelines.audit import DaskRunner

    archive = small_archive(tmp_path / "archive")
    factory = open_ledger(str(tmp_path / "ledger.db"))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        runner = DaskRunner(cluster.scheduler_address)
        try:
            run = run_audit(archive, factory, protocol, db_url=None, runner=runner, now=NOW)
        finally:
            runner.close()
    assert run.compared == 2 and run.ingest.added == 4
    reference = open_ledger(str(tmp_path / "reference.db"))
    run_audit(archive, reference, protocol, db_url=None, runner=SerialRunner(), now=NOW)
    assert rows(factory) == rows(reference)


@pytest.fixture
def clean_postgres(postgres_url):
    """The test server's ledger, empty before and after: one ledger holds one archive, and
    other tests use the same database."""
    from photostation.ledger import Base

    def empty() -> None:
        factory = open_ledger(postgres_url)
        with factory.begin() as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(table.delete())
    empty()
    yield postgres_url
    empty()


def test_audit_on_postgresql(tmp_path, protocol, clean_postgres):
    postgres_url = clean_postgres
    archive = small_archive(tmp_path / "archive")
    factory = open_ledger(postgres_url)
    run = run_audit(archive, factory, protocol, db_url=postgres_url, runner=SerialRunner(), now=NOW)
    assert run.compared == 2
    again = run_audit(archive, factory, protocol, db_url=postgres_url, runner=SerialRunner(), now=NOW)
    assert again.compared == 0
    with factory() as session:
        assert session.scalar(select(func.count(ComparisonRecord.id))) == 2


def test_cli_writes_the_report_and_says_what_it_found(tmp_path):
    archive = small_archive(tmp_path / "archive")
    env = dict(os.environ)
    done = subprocess.run(CLI + ["audit", str(archive), "--db", str(tmp_path / "l.db"), "--workers", "2",
                                 "--report", str(tmp_path / "report"), "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 1, done.stderr  # the views the protocol requires are missing: findings
    data = json.loads(done.stdout)
    assert data["pairs"] == 2 and data["pairs_compared"] == 2 and data["workers"] == 2
    assert data["findings"] >= 4
    names = sorted(Path(p).name for p in data["report_files"])
    assert names == ["audit.json", "checks.csv", "drift.csv", "pairs.csv", "report.html"]
    html = (tmp_path / "report" / "report.html").read_text()
    assert "P001" in html and "P002" in html


@pytest.mark.parametrize("arguments, message", [
    (["--workers", "0"], "--workers"),
    (["--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
])
def test_cli_bad_options_are_one_line_errors(tmp_path, arguments, message):
    archive = small_archive(tmp_path / "archive", patients=("P001",))
    done = subprocess.run(CLI + ["audit", str(archive), "--db", str(tmp_path / "l.db"), *arguments],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_missing_archive_is_a_one_line_error(tmp_path):
    done = subprocess.run(CLI + ["audit", str(tmp_path / "nowhere"), "--db", str(tmp_path / "l.db")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_exposure_creeping_down_at_one_station_is_one_drift_event(tmp_path, protocol):
    """A ledger with 40 photos of station A whose exposure drops by a third of an EV from photo
    25 on, and 40 steady photos of station B: one drift event, station A, exposure, down, from
    about photo 25, naming the photos affected."""
    import numpy as np

    from photostation.ledger import get_or_create_patient, get_or_create_visit

    factory = open_ledger(str(tmp_path / "ledger.db"))
    rng = np.random.default_rng(0)
    start = dt.datetime(2026, 1, 5, 9, 0)
    with factory.begin() as session:
        for station in ("A", "B"):
            for i in range(40):
                patient = get_or_create_patient(session, f"{station}{i:03d}")
                visit = get_or_create_visit(session, patient, "baseline")
                # L* of the scalp highlights: 70 +- 0.5; station A loses 1/3 EV from photo 25
                ev_drop = -1 / 3 if station == "A" and i >= 25 else 0.0
                y = ((70 + 16) / 116) ** 3 * 2 ** ev_drop
                lightness = 116 * y ** (1 / 3) - 16 + rng.normal(0, 0.5)
                photo = Photo(visit_id=visit.id, view="vertex", relative_path=f"{station}{i:03d}/baseline/vertex.jpg",
                              station=station, operator=f"op-{station}", hash_algorithm="sha256",
                              digest=f"{station}{i}", size_bytes=1, metadata_json={},
                              captured_at=(start + dt.timedelta(days=i)).isoformat(), verdict="pass")
                session.add(photo)
                session.flush()
                session.add(CheckRecord(scope="photo", photo_id=photo.id, name="exposure.level", status="pass",
                                        value=float(lightness), limit=None, message=""))
    summary = audit_summary(factory, protocol)
    events = [e for e in summary.events if e.quantity == "exposure_ev"]
    assert {(e.group_kind, e.group) for e in events} == {("station", "A"), ("operator", "op-A")}
    station_event = next(e for e in events if e.group_kind == "station")
    assert station_event.direction == "down"
    assert start + dt.timedelta(days=20) <= station_event.since <= start + dt.timedelta(days=30)
    assert station_event.size == pytest.approx(-1 / 3, abs=0.12)
    assert "A030/baseline/vertex.jpg" in station_event.photos
    charts = [c for c in summary.charts if c.quantity == "exposure_ev" and c.group == "B"]
    assert charts and not charts[0].events and charts[0].upper_limit is not None


def test_protocol_audit_settings_are_checked(tmp_path):
    from photostation.errors import InputError
    from photostation.protocol import parse_protocol

    assert parse_protocol("[audit]\ntrichoscopy_mm_per_px = 0.00625\n").audit.fallback_mm_per_px(
        "trichoscopy") == pytest.approx(0.00625)
    assert parse_protocol("").audit.fallback_mm_per_px("global") is None
    with pytest.raises(InputError, match="ewma_lambda"):
        parse_protocol("[audit.drift]\newma_lambda = 1.5\n")
    with pytest.raises(InputError, match="min_photos"):
        parse_protocol("[audit.drift]\nmin_photos = 30\nreference_photos = 20\n")


def test_bad_archive_contents_are_findings_not_aborts(tmp_path, protocol):
    """A patient without baseline, an unreadable photo, the same file under two names: the
    audit finishes, and each is a finding of the report."""
    archive = small_archive(tmp_path / "archive", patients=("P001", "P002"))
    shutil.rmtree(archive / "P002" / "baseline")                       # no baseline
    (archive / "P001" / "month-6" / "vertex.jpg").write_text("not a photo")  # unreadable
    shutil.copy(archive / "P001" / "baseline" / "tricho-vertex.jpg",   # a duplicate
                archive / "P001" / "baseline" / "tricho-midscalp.jpg")
    factory = open_ledger(str(tmp_path / "ledger.db"))
    run = run_audit(archive, factory, protocol, db_url=None, runner=SerialRunner(), now=NOW)
    assert run.pairs == 1 and run.compared == 1  # P001's tricho-vertex: the one pair left
    kinds = {f.kind: f for f in audit_summary(factory, protocol).findings}
    assert kinds["missing-baseline"].patient == "P002"
    assert "P001/month-6/vertex.jpg" in kinds["unreadable"].photos
    assert set(kinds["duplicate"].photos) == {"P001/baseline/tricho-vertex.jpg", "P001/baseline/tricho-midscalp.jpg"}


def test_two_audits_on_one_postgresql_ledger(tmp_path, protocol, clean_postgres):
    postgres_url = clean_postgres
    factory = open_ledger(postgres_url)
    archive = small_archive(tmp_path / "archive")
    command = CLI + ["audit", str(archive), "--db", postgres_url, "--workers", "1", "--json"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for process in (first, second):
        _, err = process.communicate(timeout=600)
        assert process.returncode in (0, 1), err
    reference = open_ledger(str(tmp_path / "reference.db"))
    run_audit(archive, reference, protocol, db_url=None, runner=SerialRunner(), now=NOW)
    assert rows(factory) == rows(reference)


def test_progress_bar_with_rate_on_a_terminal_only(tmp_path):
    import pty

    archive = small_archive(tmp_path / "archive", patients=("P001",))
    main, secondary = pty.openpty()
    done = subprocess.run(CLI + ["audit", str(archive), "--db", str(tmp_path / "l.db"), "--workers", "1"],
                          stdout=subprocess.PIPE, stderr=secondary, text=True, timeout=300)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert done.returncode in (0, 1)
    text = shown.decode(errors="replace")
    assert "checking photos" in text and "comparing pairs" in text and "/s" in text
    assert "checking photos" not in done.stdout  # the summary on stdout stays clean


def test_protocol_scale_ranges_are_checked():
    from photostation.errors import InputError
    from photostation.protocol import parse_protocol

    rules = parse_protocol("").scale
    assert rules.check("trichoscopy", 0.00277) == 0.00277  # a 70x USB microscope
    with pytest.raises(InputError, match="not a plausible scale of a global photo"):
        rules.check("global", 0.005)
    with pytest.raises(InputError, match="scale.global_min_mm_per_px"):
        parse_protocol("[scale]\nglobal_min_mm_per_px = 3.0\n")


def test_a_check_cannot_be_stored_twice(tmp_path):
    """photo_id/visit_id are never both set, so the old unique constraint never bound: two
    writers could double a check. The partial unique indexes refuse the second row."""
    from sqlalchemy.exc import IntegrityError

    factory = open_ledger(str(tmp_path / "ledger.db"))
    with factory.begin() as session:
        visit = Visit(patient=Patient(code="P1"), label="baseline")
        session.add(visit)
        session.flush()
        for _ in range(2):
            session.add(CheckRecord(scope="visit", visit_id=visit.id, name="visit.views", status="pass",
                                    value=None, limit=None, message=""))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
