"""Tamper evidence (photostation/trail.py) and ``photostation verify``: the photos re-hashed, the
append-only tables chained by hash, and every change, deletion, insertion around the application
and broken link reported. A small archive of sample photos is ingested once and copied per test."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import sqlite3
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from photostation import review, trail
from photostation.ledger import (CheckRecord, ComparisonHairs, ComparisonRecord, Photo, TrailEntry, Visit,
                                 open_ledger)
from photostation_cli.main import main

from .conftest import NOW, ROOT

# The image and pipeline modules are imported in the tests that use them: the concurrency test's
# spawned processes import this module, and should start in a second, not in several.

SAMPLES = ROOT / "sample_images"
PHOTOS = ("P001/baseline/tricho-vertex.jpg", "P001/month-6/tricho-vertex.jpg")
JSON_KEYS = {"ok", "photos_checked", "photos_changed", "photos_missing", "entries_checked", "entries_edited",
             "entries_deleted", "entries_unchained", "chain_broken", "legacy_unchained", "chain_head"}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, protocol):
    """An archive of the sample P001 close-up pair, ingested once (read only: tests copy it)."""
    from photostation.ingest import ingest_archive

    folder = tmp_path_factory.mktemp("verify")
    root = folder / "archive"
    for relative in PHOTOS:
        (root / relative).parent.mkdir(parents=True)
        shutil.copy(SAMPLES / relative, root / relative)
    factory = open_ledger(str(folder / "ledger.db"))
    ingest_archive(root, factory, protocol, now=NOW)
    factory.kw["bind"].dispose()
    return folder


@pytest.fixture
def ledger(ingested, tmp_path):
    """A private copy of the archive and its ledger: factory, db, root, base and follow (photo ids)."""
    root = tmp_path / "archive"
    shutil.copytree(ingested / "archive", root)
    db = tmp_path / "ledger.db"
    source, target = sqlite3.connect(ingested / "ledger.db"), sqlite3.connect(db)
    source.backup(target)
    target.execute("UPDATE ledger_info SET value = ? WHERE key = 'archive_root'", (str(root.resolve()),))
    target.commit()
    source.close()
    target.close()
    factory = open_ledger(str(db), create=False)
    with factory() as session:
        ids = dict(session.execute(select(Photo.relative_path, Photo.id)).all())
    yield SimpleNamespace(factory=factory, db=db, root=root, base=ids[PHOTOS[0]], follow=ids[PHOTOS[1]])
    factory.kw["bind"].dispose()


def verify(capsys, db, *options):
    """``photostation verify --db DB [options]`` in-process: (exit code, stdout, stderr)."""
    code = main(["verify", "--db", str(db), *options])
    out, err = capsys.readouterr()
    return code, out, err


def verify_json(capsys, db) -> tuple[int, dict]:
    code, out, err = verify(capsys, db, "--json")
    assert err == ""
    return code, json.loads(out)


def raw_sql(db, statement: str, *params) -> None:
    """Write around the application, as someone with the database file would."""
    connection = sqlite3.connect(db)
    connection.execute(statement, params)
    connection.commit()
    connection.close()


def trail_rows(factory) -> list[TrailEntry]:
    with factory() as session:
        return session.scalars(select(TrailEntry).order_by(TrailEntry.id)).all()


def assert_one_chain(entries) -> None:
    """Each entry follows the one before and its hash is its contents'."""
    previous = trail.GENESIS
    for entry in entries:
        assert entry.previous_hash == previous
        assert entry.entry_hash == trail.entry_hash(entry.previous_hash, entry.kind, entry.entry_id, entry.payload)
        previous = entry.entry_hash


def hair(x: float, y: float) -> dict:
    return {"root": [x, y], "direction_deg": 90.0, "length_um": 500.0, "width_um": 70.0, "unit": 0, "fine": False,
            "status": "matched"}


def store_comparison(ledger) -> None:
    """A stored comparison of the pair (as the audit writes it), with three matched hairs on each photo."""
    with ledger.factory.begin() as session:
        base, follow = session.get(Photo, ledger.base), session.get(Photo, ledger.follow)
        side = {"hair_count": 3, "area_cm2": 0.5, "density_per_cm2": 6.0}
        result = {"comparable": True, "view": "trichoscopy", "flags": [], "registration": {"matrix": None},
                  "baseline": dict(side), "followup": dict(side),
                  "change": {"density_per_cm2": 0.0, "density_pct": 0.0, "ci95_density_per_cm2": [-4.0, 4.0],
                             "outcome": "stable", "coverage_pct_points": None, "ci95_coverage_pct_points": None,
                             "matched": 3, "lost": 0, "new": 0}}
        session.add(ComparisonRecord(followup_photo_id=follow.id, baseline_photo_id=base.id,
                                     baseline_digest=base.digest, followup_digest=follow.digest,
                                     rules_fingerprint="r", kind="trichoscopy", comparable=True, outcome="stable",
                                     result=result))
        hairs = [hair(100.0 + 50 * i, 100.0) for i in range(3)]
        session.add(ComparisonHairs(followup_photo_id=follow.id, baseline_digest=base.digest,
                                    followup_digest=follow.digest, baseline=hairs, followup=hairs))


def flag_key(ledger) -> str:
    """A warning on the follow-up photo, and the key of its finding."""
    with ledger.factory.begin() as session:
        session.add(CheckRecord(scope="photo", photo_id=ledger.follow, name="camera.iso", status="warn", value=400,
                                limit=100, message="ISO 400 vs baseline 100"))
        visit = session.scalar(select(Visit.id).join(Photo).where(Photo.id == ledger.follow))
    return f"visit/{visit}/warn/camera.iso"


# --------------------------------------------------------------------------- clean and chained


def test_a_clean_ledger_verifies(ledger, capsys):
    code, out, err = verify(capsys, ledger.db)
    assert (code, err) == (0, "")
    assert out.splitlines()[-1].startswith("verified: 2 photos (0 changed, 0 missing), 0 trail entries")
    assert out.rstrip().endswith("OK")
    code, data = verify_json(capsys, ledger.db)
    assert code == 0 and data["ok"] is True
    assert (data["photos_checked"], data["entries_checked"], data["chain_head"]) == (2, 0, trail.GENESIS)


def test_every_append_only_write_is_chained_in_its_transaction(ledger, protocol, capsys):
    from photostation.capture import check_shot, record_capture
    from pipelines import audit_review
    from pipelines.corrections import HairEdits, SideEdits, save_correction

    factory = ledger.factory
    review.add_review(factory, ledger.base, "AB", "clinician", "accept", "sharp")
    store_comparison(ledger)
    correction = save_correction(factory, ledger.follow, HairEdits(followup=SideEdits(removed=(0,))), "AB",
                                 "clinician", 10.0)
    review.sign_off(factory, ledger.follow, "AB", "clinician", "fine", correction_id=correction.id)
    audit_review.resolve_flag(factory, flag_key(ledger), "CD", "ISO checked with the photographer")
    data = (SAMPLES / "P002/baseline/vertex.jpg").read_bytes()
    shot = check_shot(data, "shot.jpg", "P002", "baseline", "vertex", factory, protocol, now=NOW)
    record_capture(factory, shot, data, "retake", "op-anna", "station-1", protocol, now=NOW)

    entries = trail_rows(factory)
    assert [e.kind for e in entries] == ["start", "review", "correction", "signoff", "flag_resolution", "capture"]
    assert_one_chain(entries)
    assert json.loads(entries[0].payload) == {"before": {kind: 0 for kind in trail.KINDS}}
    chained_review = json.loads(entries[1].payload)
    assert (chained_review["comment"], chained_review["decision"], chained_review["photo_id"]) == \
        ("sharp", "accept", ledger.base)
    assert json.loads(entries[3].payload)["correction_id"] == correction.id
    code, data = verify_json(capsys, ledger.db)
    assert code == 0 and data["ok"] and data["entries_checked"] == 6
    assert data["legacy_unchained"] == {} and data["chain_head"] == entries[-1].entry_hash


def test_a_write_refused_by_its_checks_leaves_no_entry(ledger):
    with pytest.raises(Exception, match="no photo with id"):
        review.add_review(ledger.factory, 9999, "AB", "auditor", "accept")
    assert trail_rows(ledger.factory) == []


# --------------------------------------------------------------------------- tampering with rows


def test_a_review_edited_with_sql_is_reported(ledger, capsys):
    review.add_review(ledger.factory, ledger.base, "AB", "clinician", "retake", "blurred")
    raw_sql(ledger.db, "UPDATE reviews SET comment = 'fine' WHERE photo_id = ?", ledger.base)
    code, out, _ = verify(capsys, ledger.db)
    assert code == 1
    assert "EDITED: review 1 (trail entry 2): comment changed since it was written" in out
    code, data = verify_json(capsys, ledger.db)
    assert code == 1 and not data["ok"]
    assert data["entries_edited"] == [{"kind": "review", "entry_id": 1, "trail_id": 2, "fields": ["comment"]}]
    assert data["chain_broken"] == [] and data["entries_deleted"] == []


def test_a_deleted_sign_off_is_reported(ledger, capsys):
    store_comparison(ledger)
    signed = review.sign_off(ledger.factory, ledger.follow, "AB", "clinician", "stable")
    raw_sql(ledger.db, "DELETE FROM signoffs WHERE id = ?", signed.id)
    code, out, _ = verify(capsys, ledger.db)
    assert code == 1 and f"DELETED: signoff {signed.id}" in out
    _, data = verify_json(capsys, ledger.db)
    assert [(e["kind"], e["entry_id"]) for e in data["entries_deleted"]] == [("signoff", signed.id)]
    assert data["entries_edited"] == [] and data["chain_broken"] == []


def test_a_review_inserted_around_the_application_is_unchained(ledger, capsys):
    review.add_review(ledger.factory, ledger.base, "AB", "clinician", "accept")
    raw_sql(ledger.db, "INSERT INTO reviews (photo_id, reviewer, role, decision, reviewed_at) "
                       "VALUES (?, 'XY', 'auditor', 'accept', '2026-11-01 10:00:00.000000')", ledger.follow)
    code, out, _ = verify(capsys, ledger.db)
    assert code == 1 and "UNCHAINED: review 2" in out
    _, data = verify_json(capsys, ledger.db)
    assert data["entries_unchained"] == [{"kind": "review", "entry_id": 2}] and data["legacy_unchained"] == {}


def test_rows_older_than_the_trail_are_counted_apart_and_do_not_fail(ledger, capsys):
    raw_sql(ledger.db, "INSERT INTO reviews (photo_id, reviewer, role, decision, reviewed_at) "
                       "VALUES (?, 'XY', 'auditor', 'accept', '2025-01-01 10:00:00.000000')", ledger.base)
    raw_sql(ledger.db, "INSERT INTO captures (patient, visit, view, operator, decision, verdict, reasons, digest, "
                       "size_bytes, recorded_at) VALUES ('P001', 'baseline', 'vertex', 'op', 'retake', 'fail', '[]', "
                       "'d', 1, '2025-01-01 10:00:00.000000')")
    code, out, _ = verify(capsys, ledger.db)
    assert code == 0 and "not chained (written before tamper evidence): 1 capture, 1 review" in out
    # The first write through the application starts the trail: the older rows stay legacy ...
    review.add_review(ledger.factory, ledger.base, "AB", "clinician", "note")
    code, data = verify_json(capsys, ledger.db)
    assert code == 0 and data["legacy_unchained"] == {"review": 1, "capture": 1}
    assert json.loads(trail_rows(ledger.factory)[0].payload)["before"]["review"] == 1
    # ... and a row slipped in after it is a finding.
    raw_sql(ledger.db, "INSERT INTO captures (patient, visit, view, operator, decision, verdict, reasons, digest, "
                       "size_bytes, recorded_at) VALUES ('P001', 'baseline', 'vertex', 'op', 'accept', 'pass', '[]', "
                       "'d', 1, '2025-01-01 10:00:00.000000')")
    code, data = verify_json(capsys, ledger.db)
    assert code == 1 and data["entries_unchained"] == [{"kind": "capture", "entry_id": 2}]


# --------------------------------------------------------------------------- tampering with the trail


def test_an_edited_trail_hash_breaks_the_chain(ledger, capsys):
    review.add_review(ledger.factory, ledger.base, "AB", "clinician", "accept")
    review.add_review(ledger.factory, ledger.follow, "AB", "clinician", "accept")
    raw_sql(ledger.db, "UPDATE trail SET entry_hash = ? WHERE id = 2", "f" * 64)
    code, out, _ = verify(capsys, ledger.db)
    assert code == 1 and "CHAIN BROKEN at trail entry 2: edited" in out
    _, data = verify_json(capsys, ledger.db)
    assert [b["trail_id"] for b in data["chain_broken"]] == [2, 3]  # the entry, and the one that followed it
    assert "does not follow trail entry 2" in data["chain_broken"][1]["problem"]


def test_a_row_and_its_chained_copy_edited_together_break_the_chain(ledger, capsys):
    review.add_review(ledger.factory, ledger.base, "AB", "clinician", "retake", "blurred")
    entry = trail_rows(ledger.factory)[1]
    forged = entry.payload.replace('"retake"', '"accept"')
    assert forged != entry.payload
    raw_sql(ledger.db, "UPDATE reviews SET decision = 'accept' WHERE id = ?", entry.entry_id)
    raw_sql(ledger.db, "UPDATE trail SET payload = ? WHERE id = ?", forged, entry.id)
    code, data = verify_json(capsys, ledger.db)
    assert code == 1 and data["entries_edited"] == []
    assert [b["trail_id"] for b in data["chain_broken"]] == [entry.id]


def test_a_deleted_trail_entry_breaks_the_chain_and_unchains_its_row(ledger, capsys):
    for photo in (ledger.base, ledger.follow, ledger.base):
        review.add_review(ledger.factory, photo, "AB", "clinician", "note")
    raw_sql(ledger.db, "DELETE FROM trail WHERE id = 3")
    code, data = verify_json(capsys, ledger.db)
    assert code == 1
    assert [b["trail_id"] for b in data["chain_broken"]] == [4]
    assert data["entries_unchained"] == [{"kind": "review", "entry_id": 2}]


def test_without_its_start_entry_a_trail_calls_no_row_older_than_itself(ledger, capsys):
    review.add_review(ledger.factory, ledger.base, "AB", "clinician", "note")
    raw_sql(ledger.db, "INSERT INTO reviews (photo_id, reviewer, role, decision, reviewed_at) "
                       "VALUES (?, 'XY', 'auditor', 'accept', '2026-11-01 10:00:00.000000')", ledger.follow)
    raw_sql(ledger.db, "DELETE FROM trail WHERE kind = 'start'")
    code, data = verify_json(capsys, ledger.db)
    assert code == 1 and [b["trail_id"] for b in data["chain_broken"]] == [2]
    assert data["entries_unchained"] == [{"kind": "review", "entry_id": 2}] and data["legacy_unchained"] == {}


# --------------------------------------------------------------------------- photos


def test_changed_photo_bytes_are_reported_with_both_fingerprints(ledger, capsys):
    path = ledger.root / PHOTOS[0]
    with ledger.factory() as session:
        expected = session.get(Photo, ledger.base).digest
    path.write_bytes(path.read_bytes() + b"\0")
    code, out, _ = verify(capsys, ledger.db)
    assert code == 1 and f"CHANGED after ingest: {PHOTOS[0]} (photo {ledger.base})" in out
    _, data = verify_json(capsys, ledger.db)
    assert data["photos_changed"] == [{"photo_id": ledger.base, "path": PHOTOS[0], "expected": expected,
                                       "found": hashlib.sha256(path.read_bytes()).hexdigest()}]
    assert data["photos_missing"] == [] and data["photos_checked"] == 2


def test_a_deleted_photo_file_is_missing(ledger, capsys):
    (ledger.root / PHOTOS[1]).unlink()
    code, out, _ = verify(capsys, ledger.db)
    assert code == 1 and f"MISSING: {PHOTOS[1]} (photo {ledger.follow}): file not found" in out
    _, data = verify_json(capsys, ledger.db)
    assert data["photos_missing"] == [{"photo_id": ledger.follow, "path": PHOTOS[1], "reason": "file not found"}]
    assert data["photos_changed"] == []


# --------------------------------------------------------------------------- concurrent writers


def _append_reviews(db: str, photo_id: int, who: str, count: int, barrier) -> None:
    """One process of the concurrency test: ``count`` reviews as fast as it can."""
    factory = open_ledger(db, create=False)
    barrier.wait(timeout=60)
    for number in range(count):
        review.add_review(factory, photo_id, who, "auditor", "note", f"{who} {number}")
    factory.kw["bind"].dispose()


def test_two_processes_appending_at_once_make_one_unbroken_chain(ledger, capsys):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_append_reviews, args=(str(ledger.db), ledger.base, who, 15, barrier))
               for who in ("AB", "CD")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    entries = trail_rows(ledger.factory)
    assert len(entries) == 31 and entries[0].kind == "start"
    assert_one_chain(entries)
    assert sorted(e.entry_id for e in entries[1:]) == list(range(1, 31))
    code, data = verify_json(capsys, ledger.db)
    assert code == 0 and data["entries_checked"] == 31


def test_a_writer_that_read_a_stale_end_of_the_chain_retries_instead_of_forking(ledger, monkeypatch):
    review.add_review(ledger.factory, ledger.base, "AB", "clinician", "note")
    start, first = trail_rows(ledger.factory)
    # The unique previous_hash refuses a second entry after the same one.
    with pytest.raises(IntegrityError):
        with ledger.factory.begin() as session:
            session.add(TrailEntry(kind="review", entry_id=99, payload="{}", previous_hash=start.entry_hash,
                                   entry_hash="e" * 64))
    # A writer that read the chain's end before another writer's commit (as on PostgreSQL) fails
    # its insert, and its whole transaction runs again.
    real_tip, calls = trail._tip, []

    def stale_once(session):
        calls.append(1)
        return start.entry_hash if len(calls) == 1 else real_tip(session)

    monkeypatch.setattr(trail, "_tip", stale_once)
    review.add_review(ledger.factory, ledger.follow, "CD", "auditor", "accept")
    assert len(calls) == 2
    entries = trail_rows(ledger.factory)
    assert [e.entry_id for e in entries] == [0, 1, 2]
    assert_one_chain(entries)
    with ledger.factory() as session:
        assert session.scalar(select(TrailEntry.id).where(TrailEntry.entry_id == 99)) is None


# --------------------------------------------------------------------------- output contract


def test_json_has_the_documented_keys_and_types(ledger, capsys):
    review.add_review(ledger.factory, ledger.base, "AB", "clinician", "accept")
    code, data = verify_json(capsys, ledger.db)
    assert code == 0 and set(data) == JSON_KEYS
    assert isinstance(data["ok"], bool)
    assert all(isinstance(data[k], int) for k in ("photos_checked", "entries_checked"))
    assert all(isinstance(data[k], list) for k in ("photos_changed", "photos_missing", "entries_edited",
                                                   "entries_deleted", "entries_unchained", "chain_broken"))
    assert isinstance(data["legacy_unchained"], dict) and len(data["chain_head"]) == 64


def other_programs_db(path):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE contacts (name TEXT)")
    connection.commit()
    connection.close()


@pytest.mark.parametrize("make, url, message", [
    (None, "{tmp}/no-such.db", "no ledger at"),
    (None, "{tmp}/no/such/folder/ledger.db", "does not exist"),
    (lambda p: p.write_text("not a database"), "{tmp}/x.db", "not a database file"),
    (other_programs_db, "{tmp}/x.db", "another program's database"),
    (None, "nosuchdriver://host/db", "not a usable database URL"),
])
def test_bad_db_is_one_line_and_exit_2(tmp_path, capsys, make, url, message):
    if make is not None:
        make(tmp_path / "x.db")
    code, out, err = verify(capsys, url.format(tmp=tmp_path))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("photostation: error:") and message in err


def test_an_archive_folder_that_is_not_there_is_one_line_and_exit_2(ledger, capsys):
    shutil.rmtree(ledger.root)
    code, out, err = verify(capsys, ledger.db)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "not there" in err and "Traceback" not in err
