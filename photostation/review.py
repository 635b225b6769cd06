"""Read side of the ledger for people: visit lists, a photo with its checks, open flags, and
recording a review decision. The Streamlit app and the CLI present these; nothing here draws.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from photostation import trail
from photostation.errors import InputError
from photostation.ledger import (CheckRecord, ComparisonRecord, HairCorrection, LedgerInfo, Patient, Photo, Review,
                                 SignOff, Visit)
from photostation.results import worst

ROLES = ("photographer", "clinician", "auditor")
DECISIONS = ("accept", "retake", "not-comparable", "note")


@dataclass(frozen=True)
class VisitSummary:
    visit_id: int
    patient: str
    visit: str
    visit_date: dt.date | None
    operator: str | None
    station: str | None
    photos: int
    verdict: str
    """Worst status of the visit's own checks and of its photos."""


@dataclass(frozen=True)
class CheckRow:
    scope: str
    name: str
    status: str
    value: Any
    limit: Any
    message: str


@dataclass(frozen=True)
class ReviewRow:
    reviewer: str
    role: str
    decision: str
    comment: str | None
    reviewed_at: dt.datetime


@dataclass(frozen=True)
class PhotoDetail:
    photo_id: int
    patient: str
    visit: str
    view: str
    relative_path: str
    verdict: str
    metadata: dict[str, Any]
    checks: tuple[CheckRow, ...]
    reviews: tuple[ReviewRow, ...]
    size_px: tuple[int, int] | None = None
    """(width, height) of the file as ingested."""


@dataclass(frozen=True)
class Flag:
    """A non-passing check, with where it is (for the auditor's list)."""

    patient: str
    visit: str
    view: str | None
    photo_id: int | None
    name: str
    status: str
    message: str
    station: str | None
    operator: str | None


def archive_root(factory: sessionmaker[Session]) -> Path | None:
    """The archive folder this ledger was ingested from (to show the photos)."""
    with factory() as session:
        info = session.get(LedgerInfo, "archive_root")
        return Path(info.value) if info else None


def list_visits(factory: sessionmaker[Session]) -> list[VisitSummary]:
    """Every visit, ordered by patient and date (the manifest's, else the first capture), with its verdict."""
    out = []
    with factory() as session:
        def when(visit: Visit) -> str:
            captures = [p.captured_at for p in visit.photos if p.captured_at]
            return visit.visit_date.isoformat() if visit.visit_date else min(captures, default="9999")[:10]

        visits = sorted(session.scalars(select(Visit)), key=lambda v: (v.patient.code, when(v), v.label))
        for visit in visits:
            statuses = list(session.scalars(select(CheckRecord.status).where(CheckRecord.visit_id == visit.id)))
            statuses += [p.verdict for p in visit.photos]
            out.append(VisitSummary(visit.id, visit.patient.code, visit.label, visit.visit_date, visit.operator,
                                    visit.station, len(visit.photos), worst(statuses)))
    return out


def photos_of_visit(factory: sessionmaker[Session], visit_id: int) -> list[tuple[int, str, str]]:
    """``(photo_id, view, verdict)`` of one visit."""
    with factory() as session:
        rows = session.execute(select(Photo.id, Photo.view, Photo.verdict).where(Photo.visit_id == visit_id)
                               .order_by(Photo.view))
        return [tuple(r) for r in rows]


def photo_detail(factory: sessionmaker[Session], photo_id: int) -> PhotoDetail:
    with factory() as session:
        photo = session.get(Photo, photo_id)
        if photo is None:
            raise InputError(f"no photo with id {photo_id}")
        checks = session.scalars(select(CheckRecord).where(CheckRecord.photo_id == photo_id)
                                 .order_by(CheckRecord.scope, CheckRecord.name))
        reviews = session.scalars(select(Review).where(Review.photo_id == photo_id).order_by(Review.reviewed_at))
        return PhotoDetail(photo.id, photo.visit.patient.code, photo.visit.label, photo.view, photo.relative_path,
                           photo.verdict, dict(photo.metadata_json),
                           tuple(CheckRow(c.scope, c.name, c.status, c.value, c.limit, c.message) for c in checks),
                           tuple(ReviewRow(r.reviewer, r.role, r.decision, r.comment, r.reviewed_at) for r in reviews),
                           (photo.width, photo.height) if photo.width and photo.height else None)


def open_flags(factory: sessionmaker[Session]) -> list[Flag]:
    """Every warn/fail check of every photo and visit, worst first (the auditor's work list)."""
    flags = []
    with factory() as session:
        rows = session.scalars(select(CheckRecord).where(CheckRecord.status != "pass"))
        for c in rows:
            if c.photo_id is not None:
                photo = session.get(Photo, c.photo_id)
                visit, view = photo.visit, photo.view
                station, operator = photo.station, photo.operator
            else:
                visit = session.get(Visit, c.visit_id)
                view, station, operator = None, visit.station, visit.operator
            flags.append(Flag(visit.patient.code, visit.label, view, c.photo_id, c.name, c.status, c.message,
                              station, operator))
    return sorted(flags, key=lambda f: (f.status != "fail", f.patient, f.visit, f.view or "", f.name))


def add_review(factory: sessionmaker[Session], photo_id: int, reviewer: str, role: str, decision: str,
               comment: str | None = None) -> ReviewRow:
    """Record a person's decision on a photo.

    Parameters
    ----------
    reviewer : str
        Staff initials or ID (not a patient's name).
    role : {"photographer", "clinician", "auditor"}
    decision : {"accept", "retake", "not-comparable", "note"}
    comment : str, optional

    Returns
    -------
    ReviewRow
    """
    reviewer = reviewer.strip()
    if not reviewer or len(reviewer) > 200:
        raise InputError("reviewer: give staff initials or an ID (1-200 characters)")
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}")
    if decision not in DECISIONS:
        raise InputError(f"decision must be one of {', '.join(DECISIONS)}")

    def write(session: Session) -> ReviewRow:
        if session.get(Photo, photo_id) is None:
            raise InputError(f"no photo with id {photo_id}")
        review = Review(photo_id=photo_id, reviewer=reviewer, role=role, decision=decision,
                        comment=(comment or "").strip() or None)
        session.add(review)
        session.flush()
        trail.append(session, "review", review)  # chained in the same transaction: both or neither
        return ReviewRow(review.reviewer, review.role, review.decision, review.comment, review.reviewed_at)

    return trail.transaction(factory, write)


@dataclass(frozen=True)
class ComparablePair:
    """A baseline photo and a later photo of the same view, ready for comparison."""

    patient: str
    view: str
    baseline_path: Path
    followup_path: Path
    followup_visit: str
    baseline_id: int | None = None
    followup_id: int | None = None
    baseline_size_px: tuple[int, int] | None = None
    followup_size_px: tuple[int, int] | None = None
    """(width, height) of each file as ingested (to scale hair positions to the screen)."""


@dataclass(frozen=True)
class StoredComparison:
    """The comparison of a follow-up photo as ``photostation audit`` (or the app) stored it."""

    result: dict | None
    """The ``compare --json`` object without the per-hair lists; None when it could not run."""
    error: str | None
    computed_at: dt.datetime
    current: bool
    """False when either photo's fingerprint changed since (then compare again)."""
    thumbnail_baseline: bytes | None
    thumbnail_followup: bytes | None


def stored_comparison(factory: sessionmaker[Session], followup_id: int) -> StoredComparison | None:
    """The stored comparison of a follow-up photo with its baseline, None when there is none."""
    with factory() as session:
        record = session.scalar(select(ComparisonRecord).where(ComparisonRecord.followup_photo_id == followup_id))
        if record is None:
            return None
        base, follow = session.get(Photo, record.baseline_photo_id), session.get(Photo, followup_id)
        current = (base is not None and follow is not None and base.digest == record.baseline_digest
                   and follow.digest == record.followup_digest)
        return StoredComparison(record.result, record.error, record.computed_at, current,
                                record.thumbnail_baseline, record.thumbnail_followup)


def comparable_pairs(factory: sessionmaker[Session], patient: str) -> list[ComparablePair]:
    """Every (baseline, follow-up) photo pair of a patient, per view and follow-up visit."""
    root = archive_root(factory)
    if root is None:
        return []
    with factory() as session:
        photos = session.execute(select(Photo.view, Photo.relative_path, Visit.label, Photo.id, Photo.width,
                                        Photo.height).join(Visit).join(Patient).where(Patient.code == patient)).all()

    def size(width: int | None, height: int | None) -> tuple[int, int] | None:
        return (width, height) if width and height else None

    baselines = {view: (path, pid, size(w, h)) for view, path, label, pid, w, h in photos if label == "baseline"}
    pairs = [ComparablePair(patient, view, root / baselines[view][0], root / path, label, baselines[view][1], pid,
                            baselines[view][2], size(w, h))
             for view, path, label, pid, w, h in photos if label != "baseline" and view in baselines]
    return sorted(pairs, key=lambda p: (p.followup_visit, p.view))


@dataclass(frozen=True)
class SignOffRow:
    """A clinician's sign-off of a comparison: the figures signed are a copy, kept as signed."""

    id: int
    reviewer: str
    role: str
    note: str | None
    figures: dict[str, Any]
    correction_id: int | None
    signed_at: dt.datetime
    current: bool
    """False when either photo changed since it was signed."""


SIGNING_ROLES = ("clinician", "auditor")


def sign_off(factory: sessionmaker[Session], followup_id: int, reviewer: str, role: str, note: str | None = None,
             correction_id: int | None = None) -> SignOffRow:
    """Sign off the stored comparison of a follow-up photo (appended to the review trail).

    Parameters
    ----------
    followup_id : int
        The follow-up photo whose stored comparison is signed.
    reviewer : str
        Staff initials or ID (not a patient's name).
    role : {"clinician", "auditor"}
    note : str, optional
    correction_id : int, optional
        The hair correction in force whose figures are signed instead of the automatic ones.

    Returns
    -------
    SignOffRow

    Raises
    ------
    InputError
        No stored comparison, or it is older than a photo's bytes (compare again first), or
        the correction is not this pair's.
    """
    reviewer = (reviewer or "").strip()
    if not reviewer or len(reviewer) > 200:
        raise InputError("reviewer: give staff initials or an ID (1-200 characters)")
    if role not in SIGNING_ROLES:
        raise InputError(f"role must be one of {', '.join(SIGNING_ROLES)}")
    note = (note or "").strip() or None
    if note is not None and len(note) > 2000:
        raise InputError("note: at most 2000 characters")

    def write(session: Session) -> SignOffRow:
        record = session.scalar(select(ComparisonRecord).where(ComparisonRecord.followup_photo_id == followup_id))
        if record is None or record.result is None:
            raise InputError("nothing to sign: this pair has no stored comparison (press Compare first)")
        base, follow = session.get(Photo, record.baseline_photo_id), session.get(Photo, followup_id)
        if base.digest != record.baseline_digest or follow.digest != record.followup_digest:
            raise InputError("a photo changed since this comparison was stored: compare again before signing")
        data = record.result
        figures = {"comparable": data["comparable"], "view": data["view"], "outcome": data["change"]["outcome"],
                   "density_change_per_cm2": data["change"]["density_per_cm2"],
                   "ci95_density_per_cm2": data["change"]["ci95_density_per_cm2"],
                   "coverage_change_pct_points": data["change"]["coverage_pct_points"],
                   "ci95_coverage_pct_points": data["change"]["ci95_coverage_pct_points"],
                   "baseline_hair_count": data["baseline"]["hair_count"],
                   "followup_hair_count": data["followup"]["hair_count"], "flags": list(data["flags"]),
                   "computed_at": record.computed_at.isoformat(), "figures": "automatic"}
        if correction_id is not None:
            correction = session.get(HairCorrection, correction_id)
            if (correction is None or correction.followup_photo_id != followup_id
                    or correction.baseline_digest != record.baseline_digest
                    or correction.followup_digest != record.followup_digest):
                raise InputError("that correction is not of this comparison")
            figures |= {"figures": "corrected", "corrected": correction.result}
        row = SignOff(followup_photo_id=followup_id, baseline_digest=record.baseline_digest,
                      followup_digest=record.followup_digest, correction_id=correction_id, figures=figures,
                      reviewer=reviewer, role=role, note=note)
        session.add(row)
        session.flush()
        trail.append(session, "signoff", row)
        return SignOffRow(row.id, row.reviewer, row.role, row.note, row.figures, row.correction_id, row.signed_at,
                          True)

    return trail.transaction(factory, write)


def sign_offs(factory: sessionmaker[Session], followup_id: int) -> list[SignOffRow]:
    """Every sign-off of a follow-up photo's comparisons, oldest first."""
    with factory() as session:
        follow = session.get(Photo, followup_id)
        record = session.scalar(select(ComparisonRecord).where(ComparisonRecord.followup_photo_id == followup_id))
        base = session.get(Photo, record.baseline_photo_id) if record is not None else None
        rows = session.scalars(select(SignOff).where(SignOff.followup_photo_id == followup_id)
                               .order_by(SignOff.signed_at, SignOff.id))
        return [SignOffRow(r.id, r.reviewer, r.role, r.note, r.figures, r.correction_id, r.signed_at,
                           follow is not None and base is not None and r.followup_digest == follow.digest
                           and r.baseline_digest == base.digest) for r in rows]


def ledger_stamp(factory: sessionmaker[Session]) -> tuple[Any, ...]:
    """A cheap fingerprint of the ledger's contents (row counts and newest writes), so a reader
    can cache what it derives from the ledger until something is written."""
    from sqlalchemy import func

    with factory() as session:
        return tuple(session.execute(select(
            select(func.count(Photo.id)).scalar_subquery(), select(func.max(Photo.ingested_at)).scalar_subquery(),
            select(func.count(CheckRecord.id)).scalar_subquery(),
            select(func.max(CheckRecord.checked_at)).scalar_subquery(),
            select(func.count(ComparisonRecord.id)).scalar_subquery(),
            select(func.max(ComparisonRecord.computed_at)).scalar_subquery())).one())
