"""Ingest into the ledger: idempotent, transactional, integrity flags, bad input, PostgreSQL."""
from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import select

from photostation import ingest as ingest_module
from photostation.errors import InputError
from photostation.ingest import ingest_archive
from photostation.ledger import Base, CheckRecord, Patient, Photo, Visit, open_ledger
from photostation_cli.main import main

from .conftest import NOW, REALDATA

HDR = REALDATA / "jpg" / "hdr"


@pytest.fixture
def archive(tmp_path):
    """A small archive of real camera files: one patient, baseline and month 6, two views."""
    root = tmp_path / "archive"
    for visit, suffix in (("baseline", "NO"), ("month-6", "YES")):
        (root / "P001" / visit).mkdir(parents=True)
        shutil.copy(HDR / f"canon_hdr_{suffix}.jpg", root / "P001" / visit / "vertex.jpg")
        shutil.copy(HDR / f"iphone_hdr_{suffix}.jpg", root / "P001" / visit / "tricho-vertex.jpg")
    (root / "manifest.csv").write_text(
        "patient,visit,view,operator,station,site,visit_date\n"
        "P001,baseline,,op-anna,station-1,,2015-02-09\n"
        "P001,month-6,,op-anna,station-1,,2015-08-10\n"
        "P001,baseline,tricho-vertex,,,tattoo dot behind whorl,\n")
    return root


def dump(factory) -> dict[str, list[tuple]]:
    """Every row of every ledger table, to compare two states of the database."""
    with factory() as session:
        return {t.name: sorted((tuple(map(str, r)) for r in session.execute(select(t))), key=repr)
                for t in Base.metadata.sorted_tables}


def checks_of(factory, relative_path):
    with factory() as session:
        photo = session.scalar(select(Photo).where(Photo.relative_path == relative_path))
        return {c.name: c for c in session.scalars(select(CheckRecord).where(CheckRecord.photo_id == photo.id))}


def test_ingest_records_patients_visits_photos_and_checks(archive, tmp_path, protocol):
    factory = open_ledger(str(tmp_path / "ledger.db"))
    report = ingest_archive(archive, factory, protocol, now=NOW)
    assert (report.photos, report.added) == (4, 4)
    with factory() as session:
        assert session.scalar(select(Patient.code)) == "P001"
        visits = {v.label: v for v in session.scalars(select(Visit))}
        assert visits["baseline"].visit_date.isoformat() == "2015-02-09"
        assert visits["month-6"].operator == "op-anna"
        tricho = session.scalar(select(Photo).where(Photo.relative_path == "P001/baseline/tricho-vertex.jpg"))
        assert tricho.site == "tattoo dot behind whorl"
        assert tricho.make == "Apple" and tricho.captured_at.startswith("2015-04-10T20:12:23")
        assert len(tricho.digest) == 64
    # The follow-up's capture dates do not match its visit date (the real files were taken
    # on one day): the ledger must say so.
    with factory() as session:
        month6 = session.scalar(select(Visit).where(Visit.label == "month-6"))
        visit_checks = {c.name: c for c in session.scalars(select(CheckRecord).where(CheckRecord.visit_id == month6.id))}
    assert visit_checks["visit.date"].status == "fail"
    pair = checks_of(factory, "P001/month-6/vertex.jpg")
    assert pair["camera.exposure_time_s"].status == "fail"
    assert pair["camera.exposure_time_s"].scope == "pair"


def test_second_ingest_changes_nothing(archive, tmp_path, protocol):
    factory = open_ledger(str(tmp_path / "ledger.db"))
    ingest_archive(archive, factory, protocol, now=NOW)
    before = dump(factory)
    report = ingest_archive(archive, factory, protocol, now=NOW)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 4)
    assert dump(factory) == before


def test_crash_mid_photo_leaves_no_half_written_photo(archive, tmp_path, protocol, monkeypatch):
    factory = open_ledger(str(tmp_path / "ledger.db"))
    calls = {"n": 0}
    real_checks = ingest_module.photo_checks

    def crash_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return real_checks(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "photo_checks", crash_on_second)
    with pytest.raises(RuntimeError, match="power cut"):
        ingest_archive(archive, factory, protocol, now=NOW)
    with factory() as session:
        photos = session.scalars(select(Photo)).all()
        assert len(photos) == 1  # the first photo is complete, the second was rolled back
        assert session.scalars(select(CheckRecord).where(CheckRecord.photo_id == photos[0].id)).all()
        orphans = session.scalars(select(CheckRecord).where(CheckRecord.photo_id.is_not(None),
                                                            CheckRecord.photo_id != photos[0].id)).all()
        assert orphans == []
    monkeypatch.setattr(ingest_module, "photo_checks", real_checks)
    report = ingest_archive(archive, factory, protocol, now=NOW)
    assert report.added == 3 and report.unchanged == 1


def test_modified_baseline_is_flagged_and_original_fingerprint_kept(archive, tmp_path, protocol):
    factory = open_ledger(str(tmp_path / "ledger.db"))
    ingest_archive(archive, factory, protocol, now=NOW)
    baseline = archive / "P001" / "baseline" / "vertex.jpg"
    with factory() as session:
        original = session.scalar(select(Photo.digest).where(Photo.relative_path == "P001/baseline/vertex.jpg"))
    data = bytearray(baseline.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the pixel data
    baseline.write_bytes(bytes(data))
    report = ingest_archive(archive, factory, protocol, now=NOW)
    assert report.changed_bytes == ("P001/baseline/vertex.jpg",)
    assert report.exit_code == 1
    with factory() as session:
        photo = session.scalar(select(Photo).where(Photo.relative_path == "P001/baseline/vertex.jpg"))
        assert photo.digest == original and photo.verdict == "fail"
    assert checks_of(factory, "P001/baseline/vertex.jpg")["integrity.digest"].status == "fail"
    # The follow-up compared with a modified baseline must not pass silently either.
    follow = checks_of(factory, "P001/month-6/vertex.jpg")
    assert follow["pair.baseline"].status == "fail"
    # Restoring the original bytes clears the flag.
    data[len(data) // 2] ^= 0xFF
    baseline.write_bytes(bytes(data))
    ingest_archive(archive, factory, protocol, now=NOW)
    assert checks_of(factory, "P001/baseline/vertex.jpg")["integrity.digest"].status == "pass"
    assert "pair.baseline" not in checks_of(factory, "P001/month-6/vertex.jpg")


def test_deleted_photo_is_flagged_missing(archive, tmp_path, protocol):
    factory = open_ledger(str(tmp_path / "ledger.db"))
    ingest_archive(archive, factory, protocol, now=NOW)
    (archive / "P001" / "month-6" / "tricho-vertex.jpg").unlink()
    report = ingest_archive(archive, factory, protocol, now=NOW)
    assert report.missing_files == ("P001/month-6/tricho-vertex.jpg",)
    assert checks_of(factory, "P001/month-6/tricho-vertex.jpg")["integrity.present"].status == "fail"


def test_bad_files_in_the_archive(archive, tmp_path, protocol):
    visit = archive / "P001" / "baseline"
    (visit / "frontal.jpg").write_bytes(b"")
    (visit / "occipital.jpg").write_text("not a photo")
    shutil.copy(REALDATA / "jpg" / "corrupted.jpg", visit / "midscalp.jpg")
    data = (HDR / "canon_hdr_NO.jpg").read_bytes()
    (visit / "left-temporal.jpg").write_bytes(data[: len(data) // 2])
    shutil.copy(HDR / "canon_hdr_NO.jpg", visit / "Right Temporal.jpg")
    (visit / "notes.docx").write_text("x")
    outside = tmp_path / "outside.jpg"
    shutil.copy(HDR / "canon_hdr_NO.jpg", outside)
    (visit / "right-temporal.jpg").symlink_to(outside)
    factory = open_ledger(str(tmp_path / "ledger.db"))
    report = ingest_archive(archive, factory, protocol, now=NOW)
    assert set(report.unreadable) == {"P001/baseline/frontal.jpg", "P001/baseline/occipital.jpg"}
    skipped = {s.relative_path: s.reason for s in report.skipped}
    assert "invalid view name" in skipped["P001/baseline/Right Temporal.jpg"]
    assert "not a photo type" in skipped["P001/baseline/notes.docx"]
    assert "outside the archive" in skipped["P001/baseline/right-temporal.jpg"]
    assert checks_of(factory, "P001/baseline/frontal.jpg")["file.readable"].status == "fail"
    truncated = checks_of(factory, "P001/baseline/left-temporal.jpg")["file.decodable"]
    assert truncated.status == "fail" and "truncated" in truncated.message
    assert report.exit_code == 1


def test_bad_manifest_refuses_the_whole_ingest(archive, tmp_path, protocol):
    (archive / "manifest.csv").write_text("patient,visit,view,visit_date\nP001,baseline,,09/02/2015\n")
    factory = open_ledger(str(tmp_path / "ledger.db"))
    with pytest.raises(InputError, match="line 2: visit_date '09/02/2015' is not YYYY-MM-DD"):
        ingest_archive(archive, factory, protocol, now=NOW)
    with factory() as session:
        assert session.scalars(select(Photo)).all() == []
    (archive / "manifest.csv").write_text("patient,visit,name\nP001,baseline,Jane Doe\n")
    with pytest.raises(InputError, match="unknown column"):
        ingest_archive(archive, factory, protocol, now=NOW)
    (archive / "manifest.csv").write_text("patient,visit\n../P001,baseline\n")
    with pytest.raises(InputError, match="invalid patient ID"):
        ingest_archive(archive, factory, protocol, now=NOW)


def test_one_ledger_one_archive(archive, tmp_path, protocol):
    factory = open_ledger(str(tmp_path / "ledger.db"))
    ingest_archive(archive, factory, protocol, now=NOW)
    other = tmp_path / "other"
    shutil.copytree(archive, other)
    with pytest.raises(InputError, match="this ledger holds the archive"):
        ingest_archive(other, factory, protocol, now=NOW)


def test_cli_ingest_summary_and_exit_codes(archive, tmp_path, capsys):
    db = tmp_path / "cli.db"
    code = main(["ingest", str(archive), "--db", str(db), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["photos"] == 4 and summary["added"] == 4
    assert code == 1  # the real files break the protocol (shutter changed, dates off)
    code = main(["ingest", str(tmp_path / "nowhere"), "--db", str(db)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "archive not found" in err
    code = main(["ingest", str(archive), "--db", "postgresql+nosuchdriver://x/y"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1


def test_ledger_on_postgresql(archive, protocol, postgres_url):
    factory = open_ledger(postgres_url)
    with factory.begin() as session:  # a clean database for this test
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(table.delete())
    report = ingest_archive(archive, factory, protocol, now=NOW)
    assert report.added == 4
    before = dump(factory)
    again = ingest_archive(archive, factory, protocol, now=NOW)
    assert again.unchanged == 4 and dump(factory) == before
    assert checks_of(factory, "P001/month-6/vertex.jpg")["camera.exposure_time_s"].status == "fail"
