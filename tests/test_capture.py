"""Capture at the station (photostation.capture): checking a shot against its baseline, refusing
bad input before decoding, accepting into the archive and the ledger, retakes, the watched folder."""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import time
import zlib

import numpy as np
import pytest
from sqlalchemy import select

from photostation import capture
from photostation.capture import capture_history, check_shot, record_capture, watched_shots
from photostation.errors import InputError
from photostation.ingest import ingest_archive
from photostation.ledger import CaptureRecord, Photo, open_ledger

from .conftest import NOW, ROOT

SAMPLES = ROOT / "sample_images"


def sample(relative: str) -> bytes:
    return (SAMPLES / relative).read_bytes()


def make_ledger(folder, protocol, *photos):
    """An archive of the given sample photos (``P001/baseline/vertex.jpg``, ...) ingested into a new ledger."""
    root = folder / "archive"
    for relative in photos:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / relative, root / relative)
    factory = open_ledger(str(folder / "ledger.db"))
    ingest_archive(root, factory, protocol, now=NOW)
    return factory, root


@pytest.fixture(scope="module")
def station(tmp_path_factory, protocol):
    """A ledger holding the baseline vertex photos of P001 and P003 (read only here)."""
    factory, _ = make_ledger(tmp_path_factory.mktemp("station"), protocol, "P001/baseline/vertex.jpg",
                             "P003/baseline/vertex.jpg")
    return factory


@pytest.fixture(scope="module")
def new_baseline(station, protocol):
    """The bytes and check of a baseline shot of a new patient (P002), checked alone."""
    data = sample("P002/baseline/vertex.jpg")
    return data, check_shot(data, "shot.jpg", "P002", "baseline", "vertex", station, protocol, now=NOW)


@pytest.fixture
def fresh(tmp_path, protocol):
    """A ledger of its own with P001's baseline vertex photo, for the tests that write."""
    return make_ledger(tmp_path, protocol, "P001/baseline/vertex.jpg")


def photo_id(factory, relative):
    with factory() as session:
        return session.scalar(select(Photo.id).where(Photo.relative_path == relative))


def records(factory):
    with factory() as session:
        return session.scalars(select(CaptureRecord)).all()


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if the shot's pixels are decoded or checked."""
    def refuse(*args, **kwargs):
        raise AssertionError("decoded although it should have been refused first")
    monkeypatch.setattr(capture, "check_photo", refuse)
    monkeypatch.setattr(capture, "decode", refuse)


# --------------------------------------------------------------------------- checking


def test_follow_up_is_checked_against_its_baseline(station, protocol):
    data = sample("P001/month-6/vertex.jpg")
    shot = check_shot(data, "IMG_0001.JPG", "P001", "month-6", "vertex", station, protocol, now=NOW)
    assert shot.verdict in ("pass", "warn") and shot.extension == "jpg"
    assert shot.baseline_photo_id == photo_id(station, "P001/baseline/vertex.jpg") is not None
    assert shot.baseline_missing is None and shot.existing is None
    names = [c.name for c in shot.checks]
    assert "pose.roll_deg" in names and "camera.iso" in names  # compared with the baseline
    assert not any(c.status == "fail" for c in shot.checks)
    ranks = [{"fail": 0, "warn": 1, "pass": 2}[c.status] for c in shot.checks]
    assert ranks == sorted(ranks) and shot.checks[0].status == shot.verdict
    assert shot.preview.dtype == np.uint8 and shot.preview.shape[2] == 3 and max(shot.preview.shape[:2]) <= 1200
    assert shot.ghost.shape == shot.preview.shape and shot.ghost.dtype == np.uint8
    assert shot.digest == hashlib.new(protocol.hash_algorithm, data).hexdigest() and shot.size_bytes == len(data)
    assert 0 < shot.elapsed_s < 30


def test_drifted_shot_fails_with_what_to_do(station, protocol):
    shot = check_shot(sample("P003/month-6/vertex.jpg"), "shot.jpg", "P003", "month-6", "vertex", station, protocol,
                      now=NOW)
    assert shot.verdict == "fail" and shot.checks[0].status == "fail"
    failed = {c.name: c.message for c in shot.checks if c.status == "fail"}
    assert {"pose.roll_deg", "camera.iso", "exposure.difference_ev"} <= set(failed)
    assert "counter-clockwise" in failed["pose.roll_deg"]


def test_follow_up_without_baseline_is_checked_alone_and_says_so(station, protocol):
    shot = check_shot(sample("P002/month-6/vertex.jpg"), "shot.jpg", "P002", "month-6", "vertex", station, protocol,
                      now=NOW)
    assert shot.baseline_missing.startswith("no baseline photo of vertex for P002: ")
    assert "checked alone" in shot.baseline_missing
    assert shot.baseline_photo_id is None and shot.ghost is None and shot.preview is not None
    assert not any(c.name.startswith(("pose.", "baseline.")) for c in shot.checks)


def test_baseline_shot_is_checked_alone_without_a_missing_note(new_baseline):
    _, shot = new_baseline
    assert shot.baseline_missing is None and shot.ghost is None and shot.baseline_photo_id is None
    assert shot.existing is None and shot.checks


def test_shot_of_a_view_already_archived_says_so(station, protocol):
    shot = check_shot(sample("P001/baseline/vertex.jpg"), "shot.jpg", "P001", "baseline", "vertex", station, protocol,
                      now=NOW)
    assert shot.existing == "P001/baseline/vertex.jpg"


@pytest.mark.parametrize("data, name, match", [
    (b"this is not a photo, just text\n" * 20, "shot.jpg", "not an image"),
    (b"", "shot.jpg", "empty"),
    (png_header(64, 48), "shot.jpg", "holds a PNG image but is named .jpg"),
    (b"GIF89a" + b"\0" * 100, "shot.gif", "not a photo type of the protocol"),
    (b"\xff\xd8\xff" + b"\0" * 100, "shot", "not a photo type of the protocol"),
])
def test_bad_files_are_refused_before_decoding(station, protocol, no_decoding, data, name, match):
    with pytest.raises(InputError, match=match):
        check_shot(data, name, "P001", "month-6", "vertex", station, protocol, now=NOW)


@pytest.mark.parametrize("width, height", [(40000, 40000), (20000, 16000)])
def test_huge_pixel_count_is_refused_from_the_header(station, protocol, no_decoding, width, height):
    data = png_header(width, height)
    assert len(data) < 200
    # Both sizes are refused from the header alone (the 20000 x 16000 one is below Pillow's own
    # error, twice its limit): decoding is never reached (no_decoding).
    with pytest.raises(InputError, match="too large|megapixels"):
        check_shot(data, "shot.png", "P001", "month-6", "vertex", station, protocol, now=NOW)


def test_too_many_bytes_are_refused(station, protocol, no_decoding, monkeypatch):
    monkeypatch.setattr(capture, "MAX_SHOT_BYTES", 1000)
    with pytest.raises(InputError, match="MB"):
        check_shot(b"\xff\xd8\xff" + b"\0" * 2000, "shot.jpg", "P001", "month-6", "vertex", station, protocol)


@pytest.mark.parametrize("patient, visit, view", [
    ("../x", "month-6", "vertex"), ("/etc", "month-6", "vertex"), ("P0/01", "month-6", "vertex"),
    ("P001\x00", "month-6", "vertex"), ("P001", "..", "vertex"), ("P001", "month 6", "vertex"),
    ("P001", "month-6", "../vertex"), ("P001", "month-6", "ears"), ("P001", "month-6", "tricho-"),
])
def test_unsafe_or_unknown_names_are_refused(station, protocol, no_decoding, patient, visit, view):
    with pytest.raises(InputError):
        check_shot(sample("P001/month-6/vertex.jpg"), "shot.jpg", patient, visit, view, station, protocol)


# --------------------------------------------------------------------------- recording


def test_accept_writes_the_file_ingests_it_and_records_it(fresh, protocol):
    factory, root = fresh
    data = sample("P001/month-6/vertex.jpg")
    shot = check_shot(data, "IMG_0002.jpg", "P001", "month-6", "vertex", factory, protocol, now=NOW)
    row = record_capture(factory, shot, data, "accept", " op-anna ", "station-1", protocol, now=NOW)
    target = root / "P001" / "month-6" / "vertex.jpg"
    assert target.read_bytes() == data
    assert os.listdir(target.parent) == ["vertex.jpg"]  # no temporary file left behind
    new_id = photo_id(factory, "P001/month-6/vertex.jpg")
    assert new_id is not None and row.photo_id == new_id and row.relative_path == "P001/month-6/vertex.jpg"
    with factory() as session:
        assert session.get(Photo, new_id).digest == shot.digest
    (record,) = records(factory)
    assert (record.decision, record.operator, record.station, record.photo_id) == ("accept", "op-anna", "station-1",
                                                                                   new_id)
    assert record.verdict == shot.verdict and record.digest == shot.digest
    assert [r["name"] for r in record.reasons] == [c.name for c in shot.checks if c.status != "pass"]
    assert [h.id for h in capture_history(factory)] == [row.id]
    # The next shot of that view is now told it is taken, and refused on accept.
    again = check_shot(data, "IMG_0003.jpg", "P001", "month-6", "vertex", factory, protocol, now=NOW)
    assert again.existing == "P001/month-6/vertex.jpg"


def test_accept_onto_an_existing_view_is_refused_and_writes_nothing(fresh, protocol):
    factory, root = fresh
    data = sample("P001/month-6/vertex.jpg")
    shot = check_shot(data, "shot.jpg", "P001", "baseline", "vertex", factory, protocol, now=NOW)
    baseline = root / "P001" / "baseline" / "vertex.jpg"
    before = baseline.read_bytes()
    with pytest.raises(InputError, match="already in the archive"):
        record_capture(factory, shot, data, "accept", "op-anna", None, protocol, now=NOW)
    assert baseline.read_bytes() == before and os.listdir(baseline.parent) == ["vertex.jpg"]
    assert records(factory) == []
    # A file of the view under another extension, not yet ingested, is refused too.
    (root / "P001" / "month-6").mkdir()
    (root / "P001" / "month-6" / "vertex.png").write_bytes(b"camera file")
    shot = check_shot(data, "shot.jpg", "P001", "month-6", "vertex", factory, protocol, now=NOW)
    with pytest.raises(InputError, match="P001/month-6/vertex.png is already in the archive"):
        record_capture(factory, shot, data, "accept", "op-anna", None, protocol, now=NOW)
    assert os.listdir(root / "P001" / "month-6") == ["vertex.png"] and records(factory) == []


def test_retake_records_the_decision_and_writes_no_file(fresh, protocol):
    factory, root = fresh
    data = sample("P001/month-6/vertex.jpg")
    shot = check_shot(data, "shot.jpg", "P001", "month-6", "vertex", factory, protocol, now=NOW)
    assert shot.verdict != "pass"  # the sample's light changed: there is a reason to retake
    row = record_capture(factory, shot, data, "retake", "op-ben", None, protocol, now=NOW)
    assert not (root / "P001" / "month-6").exists()
    assert row.decision == "retake" and row.photo_id is None and row.relative_path is None
    assert row.reasons and all(r.status != "pass" for r in row.reasons)
    assert row.recorded_at.tzinfo is not None and row.recorded_at.replace(tzinfo=None) == NOW.replace(tzinfo=None)
    (record,) = records(factory)
    assert record.decision == "retake" and record.photo_id is None and record.size_bytes == len(data)
    assert photo_id(factory, "P001/month-6/vertex.jpg") is None


def test_bytes_other_than_the_checked_ones_are_refused(fresh, protocol):
    factory, root = fresh
    data = sample("P001/month-6/vertex.jpg")
    shot = check_shot(data, "shot.jpg", "P001", "month-6", "vertex", factory, protocol, now=NOW)
    for other in (sample("P003/month-6/vertex.jpg"), data[:-1], data + b"\0"):
        with pytest.raises(InputError, match="not the shot that was checked"):
            record_capture(factory, shot, other, "accept", "op-anna", None, protocol, now=NOW)
    assert not (root / "P001" / "month-6").exists() and records(factory) == []


@pytest.mark.parametrize("decision, operator, match", [
    ("accept", "", "operator is required"), ("retake", "   ", "operator is required"),
    ("accept", "x" * 201, "1-200"), ("retake", "op\nanna", "1-200"), ("keep", "op-anna", "decision must be"),
])
def test_decision_and_operator_are_validated(station, new_baseline, protocol, decision, operator, match):
    data, shot = new_baseline
    with pytest.raises(InputError, match=match):
        record_capture(station, shot, data, decision, operator, None, protocol, now=NOW)
    assert records(station) == []


def test_a_failed_ingest_leaves_nothing_behind(fresh, protocol, monkeypatch):
    factory, root = fresh
    data = sample("P001/month-6/vertex.jpg")
    shot = check_shot(data, "shot.jpg", "P001", "month-6", "vertex", factory, protocol, now=NOW)

    def broken(*args, **kwargs):
        raise InputError("the database went away")
    monkeypatch.setattr(capture, "ingest_archive", broken)
    with pytest.raises(InputError, match="nothing kept: the database went away"):
        record_capture(factory, shot, data, "accept", "op-anna", None, protocol, now=NOW)
    assert not (root / "P001" / "month-6").exists()
    assert records(factory) == [] and photo_id(factory, "P001/month-6/vertex.jpg") is None


def test_history_is_newest_first_per_patient_and_limited(fresh, protocol):
    factory, _ = fresh
    data = sample("P002/baseline/vertex.jpg")
    for patient in ("P001", "P003", "P001"):
        shot = check_shot(data, "shot.jpg", patient, "baseline", "vertex", factory, protocol, now=NOW)
        record_capture(factory, shot, data, "retake", "op-ben", None, protocol, now=NOW)
    rows = capture_history(factory)
    assert [r.patient for r in rows] == ["P001", "P003", "P001"] and rows[0].id > rows[-1].id
    assert [r.patient for r in capture_history(factory, "P001")] == ["P001", "P001"]
    assert len(capture_history(factory, limit=1)) == 1
    with pytest.raises(InputError):
        capture_history(factory, "../P001")


# --------------------------------------------------------------------------- watched folder


def test_watched_folder_lists_finished_images_newest_first(tmp_path, protocol):
    now = time.time()
    ages = {"older.jpg": 300, "newer.JPG": 60, "scan.tiff": 120, ".hidden.jpg": 60, "~lock.jpg": 60,
            "IMG_9.jpg.part": 60, "IMG_8.tmp.jpg": 60, "notes.txt": 60, "writing.jpg": 0.5}
    for name, age in ages.items():
        (tmp_path / name).write_bytes(b"\xff\xd8\xff data")
        os.utime(tmp_path / name, (now - age, now - age))
    (tmp_path / "empty.jpg").touch()
    os.utime(tmp_path / "empty.jpg", (now - 60, now - 60))
    (tmp_path / "folder.jpg").mkdir()
    found = watched_shots(tmp_path, protocol.views.extensions, now=now)
    assert [s.name for s in found] == ["newer.JPG", "scan.tiff", "older.jpg"]
    assert found[0].size_bytes == 8 and found[0].path == tmp_path / "newer.JPG"
    assert abs(found[0].modified.timestamp() - (now - 60)) < 1 and found[0].modified.tzinfo is not None
    assert [s.name for s in watched_shots(tmp_path, [".tiff"], now=now)] == ["scan.tiff"]


def test_watched_folder_must_exist(tmp_path, protocol):
    with pytest.raises(InputError, match="watched folder not found"):
        watched_shots(tmp_path / "absent", protocol.views.extensions)
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="not a folder"):
        watched_shots(tmp_path / "file.jpg", protocol.views.extensions)


def test_truncated_shot_is_checked_and_fails_without_a_preview(station, protocol):
    data = sample("P001/month-6/vertex.jpg")
    shot = check_shot(data[: len(data) // 3], "shot.jpg", "P001", "month-6", "vertex", station, protocol, now=NOW)
    assert shot.verdict == "fail" and shot.checks[0].name == "file.decodable"
    assert shot.preview is None and shot.ghost is None


def test_the_archive_writer_never_replaces_a_file(tmp_path):
    target = tmp_path / "vertex.jpg"
    capture._write_new(target, b"first")
    with pytest.raises(InputError, match="appeared"):
        capture._write_new(target, b"second")
    assert target.read_bytes() == b"first" and os.listdir(tmp_path) == ["vertex.jpg"]


def test_a_baseline_missing_or_unreadable_in_the_archive_is_said_plainly(fresh, protocol):
    factory, root = fresh
    data = sample("P001/month-6/vertex.jpg")
    baseline = root / "P001" / "baseline" / "vertex.jpg"
    baseline.write_bytes(b"overwritten by mistake")
    shot = check_shot(data, "shot.jpg", "P001", "month-6", "vertex", factory, protocol, now=NOW)
    assert shot.baseline_missing.startswith("no baseline photo of vertex for P001: P001/baseline/vertex.jpg cannot be")
    assert shot.baseline_photo_id is not None and shot.ghost is None
    baseline.unlink()
    shot = check_shot(data, "shot.jpg", "P001", "month-6", "vertex", factory, protocol, now=NOW)
    assert "is in the ledger but not in the archive" in shot.baseline_missing and shot.ghost is None
