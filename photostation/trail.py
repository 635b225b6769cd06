"""Tamper evidence: the hash-chained trail of the append-only tables, and ``photostation verify``.

What is protected
-----------------
*Photos* are fingerprinted at ingest (``Photo.digest`` with ``Photo.hash_algorithm``,
:mod:`photostation.ingest`): :func:`verify_ledger` hashes every file again and reports each one
whose bytes changed, or that is gone, since.

*People's records* -- reviews, hair corrections, sign-offs, flag resolutions and captures
(the tables ``reviews``, ``hair_corrections``, ``signoffs``, ``flag_resolutions``, ``captures``)
-- are append-only. Each row is chained when it is written: in the same transaction, after the
row's insert, :func:`append` adds a :class:`~photostation.ledger.TrailEntry` to the table
``trail``::

    kind           review | correction | signoff | flag_resolution | capture (| start)
    entry_id       the row's id in its table
    payload        the row's columns (all but ``id``) as canonical JSON, read back from the
                   database: keys sorted, no spaces, UTF-8, datetimes ISO 8601 with
                   microseconds, floats as Python's shortest round-trip repr (NaN as NaN)
    previous_hash  entry_hash of the entry before (64 zeros before the first)
    entry_hash     sha256(previous_hash "\\n" kind "\\n" entry_id "\\n" payload), hex
    created_at     when it was appended (information only: not hashed)

``previous_hash`` is UNIQUE: two writers that append at once both read the same last entry,
and the second insert fails instead of forking the chain. Writers therefore run their whole
transaction through :func:`transaction`, which runs it again on that conflict (and on a busy
SQLite file, a deadlock or a serialisation failure); the second try reads the new last entry.
On SQLite the append reads the last entry after the row's insert, under the write lock, so
writers simply queue.

The very first entry of a ledger's trail is a ``start`` entry (``entry_id`` 0) whose payload
is ``{"before": {kind: highest row id}}``: the rows that existed when tamper evidence began
(they have no entry of their own). It is hashed like any entry, so it cannot be moved later
without breaking the chain.

What verify reports
-------------------
:func:`verify_ledger` (``photostation verify``) walks the trail in id order and reports:

- ``photos_changed`` / ``photos_missing``: a file whose hash is not its ingest fingerprint, or
  that cannot be read;
- ``chain_broken``: an entry whose hash does not match its contents (the trail was edited), or
  that does not follow the entry before it (an entry was removed, inserted or re-hashed);
- ``entries_edited``: a row that differs from the copy chained when it was written (with the
  columns that differ); ``entries_deleted``: a chained row that is gone;
- ``entries_unchained``: a row without an entry although it was written after the trail began
  (inserted around the application);
- ``legacy_unchained`` (not a finding): rows written before tamper evidence began (ids up to
  the ``start`` entry's, or any row while the trail is still empty), counted per kind. When the
  ``start`` entry itself is gone (a chain break) no row counts as older than the trail.

A row is compared with its chained copy column by column, on the columns the copy has: a
column added to the table later does not make old rows look edited.

Limits: the chain proves that the trail is consistent, not who wrote it. Whoever can write the
database can also rewrite the whole chain from some point, or cut its newest entries together
with their rows; keep ``chain_head`` (printed by verify) somewhere else to detect that. The
photos' own ledger rows (the fingerprints) are not chained.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from photostation.archive import file_digest
from photostation.errors import InputError
from photostation.ledger import (CaptureRecord, FlagResolution, HairCorrection, LedgerInfo, Photo, Review, SignOff,
                                 TrailEntry)

KINDS: dict[str, type] = {"review": Review, "correction": HairCorrection, "signoff": SignOff,
                          "flag_resolution": FlagResolution, "capture": CaptureRecord}
"""The append-only tables, by the trail's ``kind``."""
START = "start"
"""Kind of the first entry of a trail: which rows existed before it."""
GENESIS = "0" * 64
"""``previous_hash`` of the first entry."""
RETRY_ATTEMPTS = 10

T = TypeVar("T")


# --------------------------------------------------------------------------- writing


def canonical_json(value: Any) -> str:
    """The one JSON text of a value that is hashed: keys sorted, no spaces, UTF-8 kept.

    Datetimes and dates are ISO 8601 (datetimes always with microseconds, so that one value has
    one text); floats are Python's shortest round-trip form (``NaN``/``Infinity`` as Python
    writes them), so a float read back from the database gives the same text.

    Parameters
    ----------
    value : Any
        JSON-like data (dict, list, str, int, float, bool, None), datetimes, dates and decimals.

    Returns
    -------
    str
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"not JSON data: {type(value).__name__}")


def entry_hash(previous_hash: str, kind: str, entry_id: int, payload: str) -> str:
    """``sha256(previous_hash "\\n" kind "\\n" entry_id "\\n" payload)`` as hex.

    Parameters
    ----------
    previous_hash : str
        The entry before's hash, or :data:`GENESIS`.
    kind : str
    entry_id : int
    payload : str
        Canonical JSON (:func:`canonical_json`).

    Returns
    -------
    str
        64 hex digits.
    """
    text = "\n".join((previous_hash, kind, str(entry_id), payload))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _stored_row(session: Session, table: type, row_id: int) -> dict[str, Any] | None:
    """The row's columns as the database returns them (the same path verify reads), without ``id``."""
    found = session.execute(select(table.__table__).where(table.__table__.c.id == row_id)).mappings().first()
    return None if found is None else {k: v for k, v in found.items() if k != "id"}


def _tip(session: Session) -> str | None:
    """Hash of the newest entry (chain order is id order: an entry's id is taken after it read its previous)."""
    return session.scalar(select(TrailEntry.entry_hash).order_by(TrailEntry.id.desc()).limit(1))


def _add(session: Session, previous: str, kind: str, entry_id: int, payload: str) -> TrailEntry:
    entry = TrailEntry(kind=kind, entry_id=entry_id, payload=payload, previous_hash=previous,
                       entry_hash=entry_hash(previous, kind, entry_id, payload))
    session.add(entry)
    session.flush()  # a fork shows here, as an IntegrityError on previous_hash
    return entry


def append(session: Session, kind: str, row: Any) -> TrailEntry:
    """Chain a newly written row, in the writer's own transaction (call it after the row's insert).

    On a ledger whose trail is empty, a ``start`` entry is written first (see the module doc).

    Parameters
    ----------
    session : Session
        The writer's open transaction; run it through :func:`transaction` so that a concurrent
        append is retried.
    kind : {"review", "correction", "signoff", "flag_resolution", "capture"}
    row
        The new row (a :class:`~photostation.ledger.Review`, ...); flushed here if need be.

    Returns
    -------
    TrailEntry

    Raises
    ------
    ValueError
        An unknown kind, or a row of another table.
    sqlalchemy.exc.IntegrityError
        Another writer appended first (the chain's last entry changed): run the transaction again.
    """
    table = KINDS.get(kind)
    if table is None:
        raise ValueError(f"unknown trail kind {kind!r}: one of {', '.join(KINDS)}")
    if not isinstance(row, table):
        raise ValueError(f"a {kind} entry chains a {table.__name__} row, not a {type(row).__name__}")
    session.flush()
    stored = _stored_row(session, table, row.id)
    if stored is None:
        raise ValueError(f"{kind} {row.id} is not in the database")
    previous = _tip(session)
    if previous is None:
        # The rows already there; this transaction's own rows are chained now, so they are not counted.
        before = {name: session.scalar(select(func.max(t.id)).where(t.id < row.id) if t is table
                                       else select(func.max(t.id))) or 0 for name, t in KINDS.items()}
        previous = _add(session, GENESIS, START, 0, canonical_json({"before": before})).entry_hash
    return _add(session, previous, kind, row.id, canonical_json(stored))


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    reason = str(getattr(exc, "orig", exc)).lower()
    return any(word in reason for word in ("locked", "busy", "deadlock", "could not serialize"))


def transaction(factory: sessionmaker[Session], work: Callable[[Session], T], *,
                attempts: int = RETRY_ATTEMPTS) -> T:
    """Run ``work(session)`` in one transaction, again from the start when a concurrent writer got
    in first (the chain's last entry was taken: IntegrityError; SQLite busy or a deadlock).

    Parameters
    ----------
    factory : sessionmaker
        The ledger (:func:`photostation.ledger.open_ledger`).
    work : callable
        Does the whole transaction's reading and writing; may run more than once, so it must
        create its rows itself.
    attempts : int

    Returns
    -------
    Whatever ``work`` returns.
    """
    for attempt in range(attempts):
        try:
            with factory.begin() as session:
                return work(session)
        except (IntegrityError, OperationalError) as exc:
            if attempt == attempts - 1 or not _retryable(exc):
                raise
            # Jitter: two writers that collided should not collide again on the next try.
            time.sleep(random.uniform(0.0, 0.02 * (attempt + 1)))
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class ChangedPhoto:
    """A photo whose bytes no longer hash to its ingest fingerprint."""

    photo_id: int
    path: str
    expected: str
    found: str


@dataclass(frozen=True)
class MissingPhoto:
    """A photo of the ledger whose file is not there or cannot be read."""

    photo_id: int
    path: str
    reason: str


@dataclass(frozen=True)
class EntryFinding:
    """A chained row that was edited (``fields`` differ from the chained copy) or deleted."""

    kind: str
    entry_id: int
    trail_id: int
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnchainedRow:
    """A row written after the trail began that has no entry (inserted around the application)."""

    kind: str
    entry_id: int


@dataclass(frozen=True)
class ChainBreak:
    """A trail entry that was edited or does not follow the entry before it."""

    trail_id: int
    problem: str


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`verify_ledger` found; :meth:`to_json` is ``photostation verify --json``."""

    photos_checked: int
    photos_changed: tuple[ChangedPhoto, ...]
    photos_missing: tuple[MissingPhoto, ...]
    entries_checked: int
    """Trail entries walked (the ``start`` entry included)."""
    entries_edited: tuple[EntryFinding, ...]
    entries_deleted: tuple[EntryFinding, ...]
    entries_unchained: tuple[UnchainedRow, ...]
    chain_broken: tuple[ChainBreak, ...]
    legacy_unchained: dict[str, int] = field(default_factory=dict)
    """Rows written before tamper evidence began, per kind (not a finding)."""
    chain_head: str = GENESIS
    """Hash of the newest entry: note it elsewhere to detect a later rewrite or cut of the trail."""

    @property
    def findings(self) -> int:
        """Number of problems found (legacy rows are not problems)."""
        return (len(self.photos_changed) + len(self.photos_missing) + len(self.entries_edited)
                + len(self.entries_deleted) + len(self.entries_unchained) + len(self.chain_broken))

    @property
    def ok(self) -> bool:
        """Nothing changed, missing, edited, deleted, unchained or broken."""
        return self.findings == 0

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object.

        Returns
        -------
        dict
            ``ok`` (bool), ``photos_checked`` and ``entries_checked`` (counts), ``photos_changed``
            [{photo_id, path, expected, found}], ``photos_missing`` [{photo_id, path, reason}],
            ``entries_edited`` [{kind, entry_id, trail_id, fields}], ``entries_deleted`` [{kind,
            entry_id, trail_id}], ``entries_unchained`` [{kind, entry_id}], ``chain_broken``
            [{trail_id, problem}], ``legacy_unchained`` {kind: count} and ``chain_head`` (hex).
        """
        return {
            "ok": self.ok, "photos_checked": self.photos_checked,
            "photos_changed": [{"photo_id": p.photo_id, "path": p.path, "expected": p.expected, "found": p.found}
                               for p in self.photos_changed],
            "photos_missing": [{"photo_id": p.photo_id, "path": p.path, "reason": p.reason}
                               for p in self.photos_missing],
            "entries_checked": self.entries_checked,
            "entries_edited": [{"kind": e.kind, "entry_id": e.entry_id, "trail_id": e.trail_id,
                                "fields": list(e.fields)} for e in self.entries_edited],
            "entries_deleted": [{"kind": e.kind, "entry_id": e.entry_id, "trail_id": e.trail_id}
                                for e in self.entries_deleted],
            "entries_unchained": [{"kind": u.kind, "entry_id": u.entry_id} for u in self.entries_unchained],
            "chain_broken": [{"trail_id": b.trail_id, "problem": b.problem} for b in self.chain_broken],
            "legacy_unchained": dict(self.legacy_unchained), "chain_head": self.chain_head,
        }


def _check_photos(session: Session) -> tuple[int, list[ChangedPhoto], list[MissingPhoto]]:
    photos = session.execute(select(Photo.id, Photo.relative_path, Photo.hash_algorithm, Photo.digest)
                             .order_by(Photo.relative_path)).all()
    if not photos:
        return 0, [], []
    info = session.get(LedgerInfo, "archive_root")
    if info is None:
        raise InputError("the ledger holds photos but no archive folder: it was not written by photostation ingest")
    root = Path(info.value)
    if not root.is_dir():
        raise InputError(f"the archive folder {root} of this ledger is not there (not mounted?): nothing verified")
    changed, missing = [], []
    for photo_id, relative, algorithm, digest in photos:
        path = root / relative
        try:
            found = file_digest(path, algorithm)
        except FileNotFoundError:
            missing.append(MissingPhoto(photo_id, relative, "file not found"))
            continue
        except IsADirectoryError:
            missing.append(MissingPhoto(photo_id, relative, "a folder, not a file"))
            continue
        except OSError as exc:
            missing.append(MissingPhoto(photo_id, relative, f"cannot read: {exc.strerror or exc.__class__.__name__}"))
            continue
        except ValueError:  # an algorithm this Python does not have (the row was altered)
            found = f"cannot hash with unknown algorithm {algorithm!r}"
        if found != digest:
            changed.append(ChangedPhoto(photo_id, relative, digest, found))
    return len(photos), changed, missing


def _rows(session: Session) -> dict[str, dict[int, dict[str, Any]]]:
    out = {}
    for kind, table in KINDS.items():
        out[kind] = {r["id"]: dict(r) for r in session.execute(select(table.__table__)).mappings()}
    return out


def _differing(chained: dict[str, Any], current: dict[str, Any]) -> tuple[str, ...]:
    """Columns whose value is not the chained one (a column added since is not compared)."""
    return tuple(sorted(k for k, v in chained.items()
                        if k not in current or canonical_json(current[k]) != canonical_json(v)))


def verify_ledger(factory: sessionmaker[Session], protocol: Any = None) -> VerifyReport:
    """Re-hash every photo and walk the trail (see the module doc for what is reported).

    Parameters
    ----------
    factory : sessionmaker
        The ledger (:func:`photostation.ledger.open_ledger`); only read.
    protocol : Protocol, optional
        Not needed: each photo is hashed with the algorithm stored with its fingerprint
        (``Photo.hash_algorithm``), so a ledger stays verifiable after the protocol changes
        its algorithm. Accepted for symmetry with the other entry points.

    Returns
    -------
    VerifyReport

    Raises
    ------
    InputError
        The ledger holds photos but its archive folder is not there (nothing can be checked).
    """
    del protocol
    with factory() as session:
        photos_checked, changed, missing = _check_photos(session)
        rows = _rows(session)
        entries = session.scalars(select(TrailEntry).order_by(TrailEntry.id)).all()

    broken: list[ChainBreak] = []
    edited: list[EntryFinding] = []
    deleted: list[EntryFinding] = []
    chained: dict[str, set[int]] = {kind: set() for kind in KINDS}
    before: dict[str, int] | None = None
    expected_previous, previous_id = GENESIS, None
    for position, entry in enumerate(entries):
        if entry.previous_hash != expected_previous:
            where = f"trail entry {previous_id}" if previous_id is not None else "the start of the trail"
            broken.append(ChainBreak(entry.id, f"does not follow {where}: an entry was removed, inserted or "
                                               "re-hashed before it"))
        if entry_hash(entry.previous_hash, entry.kind, entry.entry_id, entry.payload) != entry.entry_hash:
            broken.append(ChainBreak(entry.id, f"edited: its hash does not match its contents ({entry.kind} "
                                               f"{entry.entry_id})"))
        expected_previous, previous_id = entry.entry_hash, entry.id
        try:
            payload = json.loads(entry.payload)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            broken.append(ChainBreak(entry.id, "edited: its payload is not a JSON object"))
            continue
        if entry.kind == START:
            if position != 0:
                broken.append(ChainBreak(entry.id, "a start entry in the middle of the trail"))
            elif isinstance(payload.get("before"), dict):
                before = {k: v for k, v in payload["before"].items() if isinstance(v, int)}
            continue
        if entry.kind not in KINDS:
            broken.append(ChainBreak(entry.id, f"edited: unknown kind {entry.kind!r}"))
            continue
        chained[entry.kind].add(entry.entry_id)
        current = rows[entry.kind].get(entry.entry_id)
        if current is None:
            deleted.append(EntryFinding(entry.kind, entry.entry_id, entry.id))
            continue
        fields = _differing(payload, current)
        if fields:
            edited.append(EntryFinding(entry.kind, entry.entry_id, entry.id, fields))

    if before is None and entries:
        before = {}  # the start entry is gone or altered (a chain break): no row counts as older than the trail
    unchained: list[UnchainedRow] = []
    legacy: dict[str, int] = {}
    for kind, table_rows in rows.items():
        for row_id in sorted(set(table_rows) - chained[kind]):
            # An empty trail: nothing was ever chained, every row predates tamper evidence.
            if before is None or row_id <= before.get(kind, 0):
                legacy[kind] = legacy.get(kind, 0) + 1
            else:
                unchained.append(UnchainedRow(kind, row_id))
    return VerifyReport(photos_checked, tuple(changed), tuple(missing), len(entries), tuple(edited), tuple(deleted),
                        tuple(unchained), tuple(broken), legacy, entries[-1].entry_hash if entries else GENESIS)
