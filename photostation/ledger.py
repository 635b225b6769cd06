"""The ledger: patients, visits, photos, checks, measurements and reviews in a real database.

SQLAlchemy 2 ORM. The default is an embedded SQLite file (no set-up); any SQLAlchemy URL
works, e.g. ``postgresql+psycopg://user@host/photostation``. Tables are created on first
use. The ledger stores pseudonymous patient codes and capture metadata, never names, and
never the photos' GPS, owner or comment tags.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from sqlalchemy import (JSON, Date, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, create_engine, event, select, text)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from photostation.errors import InputError

DEFAULT_DB = "sqlite:///photostation.db"
ENV_DB = "PHOTOSTATION_DB"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, Any: JSON}


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    """Pseudonymous patient code (the archive folder name)."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    visits: Mapped[list[Visit]] = relationship(back_populates="patient", cascade="all, delete-orphan")


class Visit(Base):
    __tablename__ = "visits"
    __table_args__ = (UniqueConstraint("patient_id", "label"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    label: Mapped[str] = mapped_column(String(64))
    visit_date: Mapped[dt.date | None] = mapped_column(Date)
    operator: Mapped[str | None] = mapped_column(String(200))
    station: Mapped[str | None] = mapped_column(String(200))
    patient: Mapped[Patient] = relationship(back_populates="visits")
    photos: Mapped[list[Photo]] = relationship(back_populates="visit", cascade="all, delete-orphan")


class Photo(Base):
    __tablename__ = "photos"
    __table_args__ = (UniqueConstraint("visit_id", "view"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    view: Mapped[str] = mapped_column(String(64))
    relative_path: Mapped[str] = mapped_column(String(300), unique=True)
    """``<patient>/<visit>/<view>.<ext>`` inside the archive."""
    operator: Mapped[str | None] = mapped_column(String(200))
    station: Mapped[str | None] = mapped_column(String(200))
    site: Mapped[str | None] = mapped_column(String(200))
    hash_algorithm: Mapped[str] = mapped_column(String(32))
    digest: Mapped[str] = mapped_column(String(128))
    """Fingerprint of the bytes at ingest. Never overwritten: a later change is flagged instead."""
    size_bytes: Mapped[int] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(16))
    captured_at: Mapped[str | None] = mapped_column(String(40))
    """ISO 8601 with the offset when the camera recorded one."""
    make: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    serial: Mapped[str | None] = mapped_column(String(200))
    lens: Mapped[str | None] = mapped_column(String(200))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    metadata_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    verdict: Mapped[str] = mapped_column(String(8))
    ingested_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)
    visit: Mapped[Visit] = relationship(back_populates="photos")


class CheckRecord(Base):
    """One rule's latest outcome for a photo (``photo_id``) or a visit (``visit_id``).

    ``scope`` says which step wrote it: ``photo`` (single-shot rules), ``pair`` (against the
    baseline photo of the view), ``integrity`` (fingerprint) or ``visit``.
    """

    __tablename__ = "checks"
    # One row per (subject, scope, name). A plain unique constraint over photo_id and visit_id
    # never binds (one of them is always NULL, and NULLs differ), so two writers could double a
    # check: partial unique indexes, one per kind of subject.
    __table_args__ = (UniqueConstraint("photo_id", "visit_id", "scope", "name"),
                      Index("checks_photo_scope_name", "photo_id", "scope", "name", unique=True,
                            sqlite_where=text("photo_id IS NOT NULL"), postgresql_where=text("photo_id IS NOT NULL")),
                      Index("checks_visit_scope_name", "visit_id", "scope", "name", unique=True,
                            sqlite_where=text("visit_id IS NOT NULL"), postgresql_where=text("visit_id IS NOT NULL")))
    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(8))
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    limit: Mapped[Any] = mapped_column(JSON, nullable=True)
    message: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class Measurement(Base):
    """A named measurement with its unit, e.g. ``density_per_cm2`` of a photo."""

    __tablename__ = "measurements"
    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    measured_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class StationProfile(Base):
    """A station's calibration from one date on: colour correction (from a card shot),
    flat-field (from a grey-target shot) and/or scale (from a card, or per device).

    For a photo, each part is taken from the newest profile of its station (and device, when
    given) that is valid on the photo's capture date and has that part.
    """

    __tablename__ = "station_profiles"
    id: Mapped[int] = mapped_column(primary_key=True)
    station: Mapped[str] = mapped_column(String(200))
    device: Mapped[str | None] = mapped_column(String(200))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(32))
    """``card``, ``flat-field`` or ``device-scale``."""
    card_type: Mapped[str | None] = mapped_column(String(32))
    ccm: Mapped[Any] = mapped_column(JSON, nullable=True)
    """The colour matrix (3x3, 3x6 or 3x9; corrected = ccm @ terms of camera linear RGB) as a
    list, or ``{"matrix": ..., "tone_curve": ...}`` when the camera's tone curve was measured."""
    ccm_method: Mapped[str | None] = mapped_column(String(32))
    delta_e00_after_mean: Mapped[float | None] = mapped_column(Float)
    illuminant_cct_k: Mapped[float | None] = mapped_column(Float)
    mm_per_px: Mapped[float | None] = mapped_column(Float)
    flat_field: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The illumination profile as a NumPy ``.npy`` array (float32, max 1)."""
    flat_field_ratio: Mapped[float | None] = mapped_column(Float)
    source_digest: Mapped[str | None] = mapped_column(String(128))
    """Fingerprint of the calibration photo."""
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class LedgerInfo(Base):
    """Key-value facts about the ledger itself (e.g. which archive it holds)."""

    __tablename__ = "ledger_info"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Review(Base):
    """A person's decision on a photo or visit (accept, retake, not comparable, ...)."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"))
    reviewer: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class ComparisonRecord(Base):
    """The latest comparison of a follow-up photo with the baseline photo of its view, as
    ``photostation audit`` stored it (the ``compare --json`` object, without the per-hair
    lists). Recomputed only when either photo's fingerprint or the rules' fingerprint changes."""

    __tablename__ = "comparisons"
    id: Mapped[int] = mapped_column(primary_key=True)
    followup_photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), unique=True)
    baseline_photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    baseline_digest: Mapped[str] = mapped_column(String(128))
    followup_digest: Mapped[str] = mapped_column(String(128))
    rules_fingerprint: Mapped[str] = mapped_column(String(64))
    """Hash of the protocol and photostation's version the comparison was made with."""
    kind: Mapped[str | None] = mapped_column(String(16))
    comparable: Mapped[bool]
    outcome: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    """Why the comparison could not run (an unreadable photo), else None."""
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    thumbnail_baseline: Mapped[bytes | None] = mapped_column(LargeBinary)
    thumbnail_followup: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Small JPEGs (at most 320 px, no metadata) for the audit report."""
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class ComparisonHairs(Base):
    """The per-hair lists of a stored comparison (``compare --json``'s ``baseline.hairs`` and
    ``followup.hairs``: root in each file's pixels and match status), for the review app's
    overlay and corrections. Kept apart so that the comparisons table stays small."""

    __tablename__ = "comparison_hairs"
    followup_photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    baseline_digest: Mapped[str] = mapped_column(String(128))
    followup_digest: Mapped[str] = mapped_column(String(128))
    baseline: Mapped[Any] = mapped_column(JSON)
    followup: Mapped[Any] = mapped_column(JSON)


class HairCorrection(Base):
    """A clinician's correction of a comparison's hair counts: hairs removed (false) and added
    (missed) on each photo, and the figures recomputed from them. Append-only: the newest row
    of a pair whose digests match its stored comparison is the one in force; the automatic
    figures stay in ``comparisons``."""

    __tablename__ = "hair_corrections"
    id: Mapped[int] = mapped_column(primary_key=True)
    followup_photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    baseline_digest: Mapped[str] = mapped_column(String(128))
    followup_digest: Mapped[str] = mapped_column(String(128))
    edits: Mapped[Any] = mapped_column(JSON)
    """``{"baseline": {"removed": [hair index, ...], "added": [[x, y], ...]}, "followup": {...}}``,
    indexes into the stored hair lists, points in each file's pixels."""
    result: Mapped[Any] = mapped_column(JSON)
    """The corrected counts, densities and change with its interval and outcome."""
    reviewer: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class SignOff(Base):
    """A clinician's sign-off of a comparison, with a note: what was signed (the automatic or the
    corrected figures) is copied in, so a later re-comparison cannot change it. Append-only."""

    __tablename__ = "signoffs"
    id: Mapped[int] = mapped_column(primary_key=True)
    followup_photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    baseline_digest: Mapped[str] = mapped_column(String(128))
    followup_digest: Mapped[str] = mapped_column(String(128))
    correction_id: Mapped[int | None] = mapped_column(ForeignKey("hair_corrections.id"))
    figures: Mapped[Any] = mapped_column(JSON)
    reviewer: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class FlagResolution(Base):
    """An auditor's resolution of a flag (a warn/fail check of a photo or visit) with a note.
    It holds while the check still says what it said when resolved (same status and message);
    a check that changes is open again. Append-only."""

    __tablename__ = "flag_resolutions"
    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class CaptureRecord(Base):
    """A shot checked at the station and the photographer's decision on it (accept or retake).
    An accepted shot is written into the archive and ingested (``photo_id``); a retaken one
    keeps only its fingerprint, verdict and reasons."""

    __tablename__ = "captures"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient: Mapped[str] = mapped_column(String(64))
    visit: Mapped[str] = mapped_column(String(64))
    view: Mapped[str] = mapped_column(String(64))
    operator: Mapped[str] = mapped_column(String(200))
    station: Mapped[str | None] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[Any] = mapped_column(JSON)
    """The warn/fail checks: ``[{"name", "status", "message"}]``."""
    digest: Mapped[str] = mapped_column(String(128))
    size_bytes: Mapped[int] = mapped_column(Integer)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class TrailEntry(Base):
    """One link of the tamper-evident trail over the append-only tables (reviews, corrections,
    sign-offs, flag resolutions, captures): a copy of the row as written, chained to the entry
    before it by hash. Written and checked by :mod:`photostation.trail`, which explains the design."""

    __tablename__ = "trail"
    # A row is chained once; and no two entries may follow the same entry, so that two writers
    # appending at once cannot fork the chain (the second one's insert fails and it retries).
    __table_args__ = (UniqueConstraint("kind", "entry_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    """``review``, ``correction``, ``signoff``, ``flag_resolution``, ``capture``; ``start`` for the first entry."""
    entry_id: Mapped[int] = mapped_column(Integer)
    """The row's id in its table (0 for ``start``)."""
    payload: Mapped[str] = mapped_column(Text)
    """The row's fields as canonical JSON text (kept as text: it is hashed byte for byte)."""
    previous_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_utcnow)


class PhotoState(Base):
    """Which rules a photo was last checked with: an audit re-run skips a photo whose bytes
    and rules are unchanged."""

    __tablename__ = "photo_states"
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(128))
    rules_fingerprint: Mapped[str] = mapped_column(String(64))


def database_url(value: str | None = None) -> str:
    """Resolve ``--db``: a URL, a plain file path (SQLite), ``$PHOTOSTATION_DB``, or the default."""
    value = value or os.environ.get(ENV_DB) or DEFAULT_DB
    if "://" not in value:
        value = f"sqlite:///{Path(value).expanduser()}"
    return value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; WAL keeps readers (the app) off writers' toes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def open_ledger(url: str | None = None, *, create: bool = True) -> sessionmaker[Session]:
    """Connect to the ledger and create missing tables.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL or SQLite file path; default ``$PHOTOSTATION_DB`` or
        ``sqlite:///photostation.db``.
    create : bool
        Create a new SQLite file when there is none (ingest). Readers (the app) pass
        ``False`` so that a mistyped path is an error, not a new empty ledger.

    Returns
    -------
    sessionmaker
        Use ``with factory.begin() as session:`` for one transaction.

    Raises
    ------
    InputError
        When the URL is malformed, its driver is missing or the database is unreachable.
    """
    resolved = database_url(url)
    try:
        engine: Engine = create_engine(resolved)
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise InputError(f"--db: not a usable database URL: {redact_url(resolved)}") from None
    except ModuleNotFoundError as exc:
        raise InputError(f"--db: the database driver is not installed ({exc.name}); "
                         f"for PostgreSQL: pip install 'photostation[postgres]'") from None
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not Path(database).parent.exists():
            raise InputError(f"--db: folder of the SQLite file does not exist: {Path(database).parent}")
        if database and database != ":memory:" and not create and not Path(database).is_file():
            raise InputError(f"no ledger at {database}: run 'photostation ingest ARCHIVE' first")
        if database and database != ":memory:" and Path(database).is_file():
            _check_sqlite_file(Path(database))
        event.listen(engine, "connect", _sqlite_pragmas)
    for attempt in range(3):
        try:
            Base.metadata.create_all(engine)
            _add_indexes(engine)
            break
        except DatabaseError as exc:  # operational, integrity, programming, corrupt file
            # Two processes opening a new ledger at once: the other one created a table between
            # this one's look and its CREATE. Look again; the tables are there now.
            reason = str(exc.orig).splitlines()[0] if exc.orig else "unreachable"
            if attempt < 2 and ("already exists" in reason or "duplicate key" in reason):
                continue
            raise InputError(f"--db: cannot open the database {redact_url(resolved)} ({reason})") from None
    return sessionmaker(engine, expire_on_commit=False)


def _check_sqlite_file(path: Path) -> None:
    """Refuse, before anything is written, a file that is not an SQLite database or is another
    program's database (no photostation table in it, but others): opening it would add our
    tables to it and switch it to WAL. Read-only look; an empty file is a new ledger."""
    import sqlite3

    if path.stat().st_size == 0:
        return
    try:
        with open(path, "rb") as handle:
            header = handle.read(16)
    except OSError as exc:
        raise InputError(f"--db: cannot read the ledger file {path} ({exc.strerror})") from None
    if header != b"SQLite format 3\x00":
        raise InputError(f"--db: {path} is not a database file (not SQLite): give the photostation ledger")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"--db: {path} cannot be read as a database ({exc})") from None
    ours = set(Base.metadata.tables)
    if tables and not tables & ours:
        raise InputError(f"--db: {path} is another program's database (no photostation tables): "
                         "give the photostation ledger")


def _add_indexes(engine: Engine) -> None:
    """Indexes added after a ledger's tables were made (create_all makes them only with a new
    table). A ledger that already holds duplicate checks keeps working without them."""
    for index in CheckRecord.__table__.indexes:
        try:
            index.create(engine, checkfirst=True)
        except IntegrityError:
            pass


def redact_url(url: str) -> str:
    """Hide a password in a URL before it is shown."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def get_or_create_patient(session: Session, code: str) -> Patient:
    patient = session.scalar(select(Patient).where(Patient.code == code))
    if patient is None:
        patient = Patient(code=code)
        session.add(patient)
        session.flush()
    return patient


def get_or_create_visit(session: Session, patient: Patient, label: str) -> Visit:
    visit = session.scalar(select(Visit).where(Visit.patient_id == patient.id, Visit.label == label))
    if visit is None:
        visit = Visit(patient_id=patient.id, label=label)
        session.add(visit)
        session.flush()
    return visit


def set_if_changed(obj: Any, **values: Any) -> bool:
    """Assign attributes that differ; return whether anything changed (keeps ingest idempotent)."""
    changed = False
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def store_checks(session: Session, checks: list[Any], scope: str, *, photo_id: int | None = None,
                 visit_id: int | None = None) -> int:
    """Replace the stored checks of one scope of a photo or visit; unchanged rows are left alone.

    Parameters
    ----------
    checks : list of Check
    scope : {"photo", "pair", "integrity", "visit"}
    photo_id, visit_id : int, optional
        The subject (exactly one of them).

    Returns
    -------
    int
        Number of rows inserted, updated or deleted.
    """
    query = select(CheckRecord).where(CheckRecord.photo_id == photo_id, CheckRecord.visit_id == visit_id,
                                      CheckRecord.scope == scope)
    existing = {c.name: c for c in session.scalars(query)}
    changes = 0
    for check in checks:
        row = existing.pop(check.name, None)
        if row is None:
            session.add(CheckRecord(photo_id=photo_id, visit_id=visit_id, scope=scope, name=check.name,
                                    status=check.status, value=check.value, limit=check.limit,
                                    message=check.message))
            changes += 1
        elif set_if_changed(row, status=check.status, value=check.value, limit=check.limit, message=check.message):
            row.checked_at = _utcnow()
            changes += 1
    for row in existing.values():
        session.delete(row)
        changes += 1
    return changes
