"""Ingest an archive into the ledger: fingerprint, read and check every photo, then check
each visit and each follow-up against its baseline.

Idempotent: a second run over unchanged files writes nothing. Transactional: each photo is
written in one transaction (photo row and its checks together, or nothing), then each
patient's cross-visit checks in one more. A photo whose bytes changed since it was first
ingested keeps its original fingerprint and metadata in the ledger and is flagged.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from photostation import timestamps
from photostation.archive import ArchiveScan, PhotoEntry, Skipped, scan_archive
from photostation.errors import InputError
from photostation.imaging import read_bytes
from photostation.ledger import (CheckRecord, LedgerInfo, Patient, Photo, Visit, get_or_create_patient,
                                 get_or_create_visit, set_if_changed, store_checks)
from photostation.metadata import PhotoMetadata
from photostation.protocol import Protocol
from photostation.results import Check, worst
from photostation.shot import LoadedPhoto, analyse, load_photo, pair_checks, photo_checks

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class IngestReport:
    """What one ingest run did. ``exit_code`` is the CLI's exit status."""

    archive: str
    photos: int
    added: int
    updated: int
    unchanged: int
    changed_bytes: tuple[str, ...]
    missing_files: tuple[str, ...]
    unreadable: tuple[str, ...]
    skipped: tuple[Skipped, ...]
    photo_verdicts: dict[str, int]
    visit_verdicts: dict[str, int]
    unmatched_manifest_rows: tuple[int, ...] = field(default=())
    failed: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    """``(photo path or patient/visit, names of its failed checks)`` for everything that failed."""

    @property
    def exit_code(self) -> int:
        failed = self.photo_verdicts.get("fail", 0) + self.visit_verdicts.get("fail", 0)
        return EXIT_FAIL if failed or self.changed_bytes or self.missing_files else EXIT_OK


def _claim_archive(session: Session, root: Path) -> None:
    info = session.get(LedgerInfo, "archive_root")
    where = str(root.resolve())
    if info is None:
        session.add(LedgerInfo(key="archive_root", value=where))
    elif info.value != where:
        raise InputError(f"this ledger holds the archive {info.value}; use another --db for {where}")


def _unreadable_checks(reason: str) -> list[Check]:
    return [Check("file.readable", "fail", None, None, f"{reason}: replace the file with the camera original")]


@dataclass(frozen=True)
class Inspection:
    """What reading and checking one photo found (computed anywhere, written by the caller).

    Picklable plain data, so that a process pool or a Dask worker can compute it."""

    relative_path: str
    digest: str
    size_bytes: int
    metadata: PhotoMetadata | None
    """None when the file is empty or not an image."""
    checks: tuple[Check, ...]
    problem: str | None = None


def inspect_photo(entry: PhotoEntry, protocol: Protocol, now: dt.datetime) -> Inspection:
    """Fingerprint, read and check one photo (the single-shot rules and image checks)."""
    data = read_bytes(entry.path) if entry.path.stat().st_size else b""
    loaded: LoadedPhoto | None = None
    problem = "empty file (0 bytes)" if not data else None
    if data:
        try:
            loaded = load_photo(data, protocol, name=entry.relative_path)
        except InputError as exc:
            problem = str(exc).split(":")[0]
    digest = loaded.digest if loaded else hashlib.new(protocol.hash_algorithm, data).hexdigest()
    checks = (photo_checks(loaded, protocol, now, entry.view, analyse(loaded, protocol, entry.view)) if loaded
              else _unreadable_checks(problem or "unreadable"))
    return Inspection(entry.relative_path, digest, len(data), loaded.metadata if loaded else None, tuple(checks),
                      problem)


def _ingest_photo(session: Session, entry: PhotoEntry, protocol: Protocol, found: Inspection) -> str:
    """Write one photo and its checks; return 'added', 'updated', 'unchanged', 'changed' or 'unreadable'."""
    digest = found.digest
    patient = get_or_create_patient(session, entry.patient)
    visit = get_or_create_visit(session, patient, entry.visit)
    photo = session.scalar(select(Photo).where(Photo.relative_path == entry.relative_path))
    outcome = "unchanged"
    if photo is not None and (photo.digest != digest or photo.hash_algorithm != protocol.hash_algorithm):
        if photo.hash_algorithm == protocol.hash_algorithm:
            integrity = [Check("integrity.digest", "fail", digest, photo.digest,
                               f"file bytes changed after ingest on {photo.ingested_at:%Y-%m-%d}: "
                               f"the ledger keeps the original fingerprint; restore the original file")]
            store_checks(session, integrity, "integrity", photo_id=photo.id)
            return "changed"
        raise InputError(f"the ledger's fingerprints use {photo.hash_algorithm}, the protocol asks for "
                         f"{protocol.hash_algorithm}: keep one algorithm per ledger")
    meta = found.metadata
    fields = dict(view=entry.view, operator=entry.operator, station=entry.station, site=entry.site,
                  format=meta.format if meta else None, captured_at=meta.captured_at if meta else None,
                  make=meta.make if meta else None, model=meta.model if meta else None,
                  serial=meta.serial if meta else None, lens=meta.lens if meta else None,
                  width=meta.width if meta else None, height=meta.height if meta else None,
                  metadata_json=meta.to_dict() if meta else {})
    if photo is None:
        photo = Photo(visit_id=visit.id, relative_path=entry.relative_path, hash_algorithm=protocol.hash_algorithm,
                      digest=digest, size_bytes=found.size_bytes, verdict="pass", **fields)
        session.add(photo)
        session.flush()
        outcome = "added"
    elif set_if_changed(photo, **fields):
        outcome = "updated"
    changes = store_checks(session, list(found.checks), "photo", photo_id=photo.id)
    changes += store_checks(session, [Check("integrity.digest", "pass", digest, photo.digest,
                                            "file bytes unchanged since ingest")], "integrity", photo_id=photo.id)
    if changes and outcome == "unchanged":
        outcome = "updated"
    return "unreadable" if meta is None else outcome


def _visit_date(visit: Visit, photos: list[Photo]) -> dt.date | None:
    if visit.visit_date:
        return visit.visit_date
    dates = [PhotoMetadata(**p.metadata_json).captured_datetime for p in photos if p.metadata_json]
    dates = [d for d in dates if d is not None]
    return min(dates).date() if dates else None


def _check_patient(session: Session, patient: Patient, protocol: Protocol) -> None:
    """Cross-visit rules of one patient: views, spread, schedule, and follow-ups vs baseline."""
    visits = {v.label: v for v in patient.visits}
    baseline = visits.get(protocol.baseline_label)
    base_photos = {p.view: p for p in baseline.photos} if baseline else {}
    base_date = _visit_date(baseline, baseline.photos) if baseline else None
    for visit in visits.values():
        photos = list(visit.photos)
        captures = [m for m in (PhotoMetadata(**p.metadata_json).captured_datetime
                                for p in photos if p.metadata_json) if m is not None]
        missing = [v for v in protocol.views.required if v not in {p.view for p in photos}]
        checks = [Check("visit.views", "fail" if missing else "pass", missing or None, list(protocol.views.required),
                        f"required view(s) missing: {', '.join(missing)}" if missing else "all required views present"),
                  timestamps.check_visit_spread(captures, protocol.timestamps),
                  timestamps.check_visit_date(visit.visit_date, captures, protocol.timestamps)]
        if visit is not baseline:
            scheduled = protocol.scheduled(visit.label)
            this_date = _visit_date(visit, photos)
            if baseline is None:
                checks.append(Check("visit.baseline", "fail", None, protocol.baseline_label,
                                    f"no '{protocol.baseline_label}' visit for this patient: nothing to compare with"))
            elif scheduled is None:
                checks.append(Check("schedule.window", "warn", None, None,
                                    f"visit label '{visit.label}' is not in the protocol schedule"))
            else:
                days = (this_date - base_date).days if this_date and base_date else None
                if days is not None and days <= 0:
                    checks.append(Check("visit.order", "fail", days, "> 0 days",
                                        f"'{visit.label}' dated {-days} days before or on the baseline date"))
                checks.append(timestamps.check_schedule_window(days, scheduled, protocol.timestamps))
        store_checks(session, checks, "visit", visit_id=visit.id)

        for photo in photos:
            pair: list[Check] = []
            if visit is not baseline and baseline is not None and photo.metadata_json:
                base_photo = base_photos.get(photo.view)
                if base_photo is None:
                    pair.append(Check("pair.baseline", "warn", None, None,
                                      f"no baseline photo of view '{photo.view}' to compare with"))
                elif not base_photo.metadata_json:
                    pair.append(Check("pair.baseline", "fail", None, None, "the baseline photo is unreadable"))
                else:
                    base_integrity = session.scalar(select(CheckRecord).where(
                        CheckRecord.photo_id == base_photo.id, CheckRecord.scope == "integrity",
                        CheckRecord.status == "fail"))
                    if base_integrity is not None:
                        pair.append(Check("pair.baseline", "fail", base_photo.relative_path, None,
                                          "the baseline photo was modified after ingest: comparison not trustworthy"))
                    pair += pair_checks(PhotoMetadata(**photo.metadata_json), PhotoMetadata(**base_photo.metadata_json),
                                        protocol, visit.label)
            store_checks(session, pair, "pair", photo_id=photo.id)
    session.flush()
    for visit in visits.values():
        for photo in visit.photos:
            statuses = session.scalars(select(CheckRecord.status).where(CheckRecord.photo_id == photo.id))
            set_if_changed(photo, verdict=worst(statuses))
        shared = {(p.operator, p.station) for p in visit.photos}
        operator, station = next(iter(shared)) if len(shared) == 1 else (None, None)
        set_if_changed(visit, operator=operator, station=station)


def _inspect_all(entries: list[PhotoEntry], protocol: Protocol, now: dt.datetime,
                 run: Callable[..., Iterator[tuple[Any, Any]]] | None) -> Iterator[tuple[PhotoEntry, Inspection]]:
    if run is None:
        for entry in entries:
            yield entry, inspect_photo(entry, protocol, now)
    else:
        for entry, (ok, found) in run(inspect_photo, [(entry, protocol, now) for entry in entries], entries):
            if not ok:  # the worker could not read or check it: stored as unreadable, with why
                data = read_bytes(entry.path) if entry.path.is_file() else b""
                found = Inspection(entry.relative_path, hashlib.new(protocol.hash_algorithm, data).hexdigest(),
                                   len(data), None, tuple(_unreadable_checks(str(found))), str(found))
            yield entry, found


def ingest_archive(root: str | Path, factory: sessionmaker[Session], protocol: Protocol, *,
                   now: dt.datetime | None = None,
                   on_photo: Callable[[PhotoEntry], None] | None = None,
                   skip: Callable[[PhotoEntry], bool] | None = None,
                   run: Callable[..., Iterator[tuple[Any, Any]]] | None = None) -> IngestReport:
    """Ingest every photo of an archive into the ledger.

    Parameters
    ----------
    root : str or Path
        Archive folder, laid out as ``<patient>/<visit>/<view>.<ext>``.
    factory : sessionmaker
        From :func:`photostation.ledger.open_ledger`.
    protocol : Protocol
    now : datetime, optional
        Current time for the "in the future" rule (default: system clock).
    on_photo : callable, optional
        Called after each photo (progress reporting).
    skip : callable, optional
        ``skip(entry)`` True: the photo is known unchanged and checked with the same rules; it
        is neither read nor written again (the audit's incremental re-run).
    run : callable, optional
        ``run(function, argument_tuples, keys)`` yields ``(key, (ok, result or error text))``
        in any order: where the photos are read and checked (a process pool or a Dask cluster,
        :mod:`pipelines.audit`; default: here, one by one). Each result is written here, one
        transaction per photo.

    Returns
    -------
    IngestReport
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    scan: ArchiveScan = scan_archive(root, protocol)
    with factory.begin() as session:
        _claim_archive(session, Path(root))
    outcomes: Counter[str] = Counter()
    changed, unreadable = [], []
    todo = []
    for entry in scan.photos:
        if skip is not None and skip(entry):
            outcomes["unchanged"] += 1
            if on_photo:
                on_photo(entry)
        else:
            todo.append(entry)
    for entry, found in _inspect_all(todo, protocol, now, run):
        with factory.begin() as session:
            outcome = _ingest_photo(session, entry, protocol, found)
        outcomes[outcome] += 1
        if outcome == "changed":
            changed.append(entry.relative_path)
        elif outcome == "unreadable":
            unreadable.append(entry.relative_path)
        if on_photo:
            on_photo(entry)

    present = {e.relative_path for e in scan.photos}
    missing = []
    with factory.begin() as session:
        for photo in session.scalars(select(Photo)):
            if photo.relative_path not in present:
                missing.append(photo.relative_path)
                store_checks(session, [Check("integrity.present", "fail", photo.relative_path, None,
                                             "file missing from the archive: restore it from backup")],
                             "integrity", photo_id=photo.id)
        visit_dates = {(e.patient, e.visit): e.visit_date for e in scan.photos if e.visit_date}
        for (code, label), date in visit_dates.items():
            visit = session.scalar(select(Visit).join(Patient).where(Patient.code == code, Visit.label == label))
            if visit is not None:
                set_if_changed(visit, visit_date=date)
    patient_codes = sorted({e.patient for e in scan.photos})
    for code in patient_codes:
        with factory.begin() as session:
            patient = session.scalar(select(Patient).where(Patient.code == code))
            _check_patient(session, patient, protocol)

    with factory() as session:
        photo_verdicts = Counter(session.scalars(select(Photo.verdict).join(Visit).join(Patient)
                                                 .where(Patient.code.in_(patient_codes))))
        visit_statuses: Counter[str] = Counter()
        failed: list[tuple[str, tuple[str, ...]]] = []
        for visit in session.scalars(select(Visit).join(Patient).where(Patient.code.in_(patient_codes))
                                     .order_by(Patient.code, Visit.label)):
            rows = session.scalars(select(CheckRecord).where(CheckRecord.visit_id == visit.id)).all()
            visit_statuses[worst(r.status for r in rows)] += 1
            if any(r.status == "fail" for r in rows):
                failed.append((f"{visit.patient.code}/{visit.label}", tuple(r.name for r in rows if r.status == "fail")))
            for photo in sorted(visit.photos, key=lambda p: p.view):
                names = tuple(session.scalars(select(CheckRecord.name).where(
                    CheckRecord.photo_id == photo.id, CheckRecord.status == "fail").order_by(CheckRecord.name)))
                if names:
                    failed.append((photo.relative_path, names))
    return IngestReport(archive=str(root), photos=len(scan.photos), added=outcomes["added"],
                        updated=outcomes["updated"], unchanged=outcomes["unchanged"], changed_bytes=tuple(changed),
                        missing_files=tuple(missing), unreadable=tuple(unreadable), skipped=scan.skipped,
                        photo_verdicts=dict(photo_verdicts), visit_verdicts=dict(visit_statuses),
                        unmatched_manifest_rows=scan.unmatched_manifest_rows, failed=tuple(failed))
