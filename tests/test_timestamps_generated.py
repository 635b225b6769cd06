"""Each timestamp rule on files written by the project's renderer (EXIF set exactly as needed),
through the library, the `check` CLI and ingest."""
from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
import pytest

from photostation.ingest import ingest_archive
from sqlalchemy import select

from photostation.ledger import CheckRecord, Photo, Visit, open_ledger
from photostation.shot import check_photo
from photostation.synthetic import ExifFields, write_jpeg
from photostation_cli.main import main

from .conftest import NOW, ROOT

CET = dt.timezone(dt.timedelta(hours=1))
BASE_TIME = dt.datetime(2026, 3, 2, 10, 0, 0, 120000, tzinfo=CET)
CAMERA = ExifFields(make="Canon", model="Canon EOS R8", serial="083021001742", lens="RF24-105mm F4-7.1 IS STM",
                    focal_length_mm=50.0, focal_length_35mm=50, exposure_time_s=1 / 125, f_number=8.0, iso=100,
                    flash_fired=True, white_balance="manual", captured_at=BASE_TIME)


@pytest.fixture(scope="module")
def pixels():
    # A small scalp-coloured frame is enough for metadata rules.
    rng = np.random.default_rng(0)
    return np.clip(rng.normal((190, 150, 135), 8, (120, 160, 3)), 0, 255).astype(np.uint8)


def shot(tmp_path, pixels, name="vertex.jpg", **changes):
    from dataclasses import replace

    return write_jpeg(tmp_path / name, pixels, replace(CAMERA, **changes))


def by_name(report):
    return {c.name: c for c in report.checks}


def test_missing_capture_time(tmp_path, pixels, protocol):
    path = shot(tmp_path, pixels, omit=frozenset({"DateTimeOriginal", "SubSecTimeOriginal", "OffsetTimeOriginal"}))
    checks = by_name(check_photo(path, protocol, now=NOW))
    assert checks["timestamp.present"].status == "fail"
    no_exif = write_jpeg(tmp_path / "bare.jpg", pixels, None)
    report = check_photo(no_exif, protocol, now=NOW)
    assert by_name(report)["timestamp.present"].status == "fail" and report.verdict == "fail"
    assert report.metadata.make is None and report.metadata.width == 160


def test_capture_time_with_offset_and_subseconds(tmp_path, pixels, protocol):
    report = check_photo(shot(tmp_path, pixels), protocol, now=NOW)
    assert report.metadata.captured_at == "2026-03-02T10:00:00.120+01:00"
    assert report.verdict == "pass", [c for c in report.checks if c.status != "pass"]


def test_future_capture_via_cli(tmp_path, pixels, capsys):
    path = shot(tmp_path, pixels, captured_at=dt.datetime(2099, 1, 5, 9, 0, tzinfo=CET))
    code = main(["check", str(path), "--json"])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert checks["timestamp.future"]["status"] == "fail" and code == 1


def test_clock_reset(tmp_path, pixels, protocol):
    old = shot(tmp_path, pixels, captured_at=dt.datetime(1980, 1, 1, 0, 0, 5))
    assert by_name(check_photo(old, protocol, now=NOW))["timestamp.plausible"].status == "fail"
    new_year = shot(tmp_path, pixels, "b.jpg", captured_at=dt.datetime(2026, 1, 1, 0, 2, 0))
    check = by_name(check_photo(new_year, protocol, now=NOW))["timestamp.plausible"]
    assert check.status == "warn" and "reset" in check.message


def test_modified_after_capture_and_editor(tmp_path, pixels, protocol):
    edited = shot(tmp_path, pixels, modified_at=BASE_TIME + dt.timedelta(days=3),
                  software="Adobe Photoshop Lightroom Classic 13.1")
    checks = by_name(check_photo(edited, protocol, now=NOW))
    assert checks["timestamp.modified_after_capture"].status == "warn"
    assert checks["timestamp.modified_after_capture"].value == pytest.approx(3 * 86400, abs=1)
    assert checks["metadata.editing_software"].status == "fail"
    # A camera writes DateTime equal to DateTimeOriginal (within the protocol's 2 s).
    fine = shot(tmp_path, pixels, "c.jpg", modified_at=BASE_TIME + dt.timedelta(seconds=1))
    assert by_name(check_photo(fine, protocol, now=NOW))["timestamp.modified_after_capture"].status == "pass"


def test_follow_up_order_window_and_settings_against_baseline(tmp_path, pixels, protocol):
    base = shot(tmp_path / "P1" / "baseline", pixels)
    inside = shot(tmp_path / "P1" / "month-6", pixels, captured_at=BASE_TIME + dt.timedelta(days=180))
    checks = by_name(check_photo(inside, protocol, baseline=base, now=NOW))
    assert checks["timestamp.order"].status == "pass" and checks["schedule.window"].status == "pass"
    assert checks["schedule.window"].value == pytest.approx(180.0)
    late = shot(tmp_path / "P1" / "month-6", pixels, "late.jpg", captured_at=BASE_TIME + dt.timedelta(days=230))
    checks = by_name(check_photo(late, protocol, baseline=base, now=NOW, visit="month-6"))
    assert checks["schedule.window"].status == "warn" and checks["schedule.window"].limit == [161, 203]
    before = shot(tmp_path / "P1" / "month-6", pixels, "early.jpg", captured_at=BASE_TIME - dt.timedelta(days=2))
    checks = by_name(check_photo(before, protocol, baseline=base, now=NOW))
    assert checks["timestamp.order"].status == "fail"
    changed = shot(tmp_path / "P1" / "month-6", pixels, "iso.jpg", captured_at=BASE_TIME + dt.timedelta(days=182),
                   iso=400, white_balance="auto", flash_fired=False, focal_length_mm=70.0)
    checks = by_name(check_photo(changed, protocol, baseline=base, now=NOW, view="vertex"))
    assert checks["camera.iso"].status == "fail" and checks["camera.iso"].value == pytest.approx(2.0)
    assert checks["camera.white_balance"].status == "warn"
    assert checks["camera.flash_fired"].status == "fail"
    assert checks["camera.focal_length_mm"].status == "fail" and "zoom back to 50 mm" in checks["camera.focal_length_mm"].message
    assert checks["protocol.flash_fired"].status == "warn"


def test_visit_rules_at_ingest(tmp_path, pixels, protocol):
    root = tmp_path / "archive"
    # Baseline views 3 hours apart (protocol: 2 h); month-6 dated 2 days off its manifest date.
    shot(root / "P7" / "baseline", pixels, "vertex.jpg")
    shot(root / "P7" / "baseline", pixels, "tricho-vertex.jpg", captured_at=BASE_TIME + dt.timedelta(hours=3),
         make="FotoFinder", model="medicam 1000s", lens=None, flash_fired=False)
    month6 = BASE_TIME + dt.timedelta(days=182)
    shot(root / "P7" / "month-6", pixels, "vertex.jpg", captured_at=month6)
    (root / "manifest.csv").write_text("patient,visit,view,operator,station,site,visit_date\n"
                                       f"P7,baseline,,op-a,st-1,,{BASE_TIME.date()}\n"
                                       f"P7,month-6,,op-a,st-1,,{(month6 + dt.timedelta(days=2)).date()}\n")
    factory = open_ledger(str(tmp_path / "l.db"))
    ingest_archive(root, factory, protocol, now=NOW)
    with factory() as session:
        checks = {(v.label, c.name): c for v in session.query(Visit).all()
                  for c in session.query(CheckRecord).filter(CheckRecord.visit_id == v.id)}
    assert checks[("baseline", "visit.spread")].status == "warn"
    assert checks[("baseline", "visit.spread")].value == pytest.approx(3.0)
    assert checks[("month-6", "visit.date")].status == "fail"
    assert checks[("month-6", "visit.views")].status == "fail"  # tricho-vertex missing
    assert checks[("month-6", "schedule.window")].status == "pass"


def test_sample_archive_flags_only_the_drifted_patient(tmp_path, protocol):
    archive = tmp_path / "samples"
    shutil.copytree(ROOT / "sample_images", archive)
    factory = open_ledger(str(tmp_path / "s.db"))
    report = ingest_archive(archive, factory, protocol, now=NOW)
    assert report.photos == 18 and report.added == 18
    truth = json.loads((archive / "ground_truth.json").read_text())
    with factory() as session:
        names = set(session.scalars(select(CheckRecord.name).where(CheckRecord.status != "pass")))
        bad_photos = set(session.scalars(select(Photo.relative_path).where(Photo.verdict != "pass")))
    assert bad_photos == {f"P003/month-6/{v}.jpg" for v in ("vertex", "tricho-vertex", "tricho-midscalp")}
    assert {"schedule.window", "camera.iso", "metadata.editing_software", "timestamp.modified_after_capture",
            "camera.serial"} <= names
    assert truth["drift"], "the ground truth lists what was injected"
