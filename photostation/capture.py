"""Capture at the station: check a new shot against the baseline photo of its view, then accept
it into the archive and the ledger, or record a retake.

The library behind the review app's Capture page. The photographer waits on :func:`check_shot`,
so everything that can be refused is refused from the bytes and the image header alone, before
any pixel is decoded; the checks themselves are :func:`photostation.shot.check_photo`'s.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from photostation import trail
from photostation.archive import validate_label, validate_patient
from photostation.errors import InputError
from photostation.imaging import decode, read_header
from photostation.ingest import ingest_archive
from photostation.ledger import CaptureRecord, LedgerInfo, Patient, Photo, Visit
from photostation.metadata import PhotoMetadata
from photostation.protocol import Protocol
from photostation.results import Check, Status
from photostation.results import verdict as overall_verdict
from photostation.shot import check_photo

MAX_SHOT_BYTES = 200 * 1024 * 1024
"""Largest shot accepted (Streamlit's default upload limit; a 24 MP 16-bit TIFF is ~150 MB)."""
SCREEN_SIDE = 1200
"""Longest side of the preview and the ghost, in pixels."""
SETTLE_S = 2.0
"""A watched file modified less than this long ago may still be being written."""
DECISIONS = ("accept", "retake")
GHOST_LEGEND = "magenta: the baseline only · green: the new shot only · grey: where they coincide"

_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "tif": "TIFF", "tiff": "TIFF", "heic": "HEIF", "heif": "HEIF"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
_PARTIAL_SUFFIXES = {".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".filepart"}
_FREE_TEXT = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
_ORDER = {"fail": 0, "warn": 1, "pass": 2}


@dataclass(frozen=True)
class CheckRow:
    """One check as the photographer reads it."""

    name: str
    status: Status
    message: str


@dataclass(frozen=True)
class ShotCheck:
    """What :func:`check_shot` found; pass it unchanged to :func:`record_capture`."""

    patient: str
    visit: str
    view: str
    filename: str
    extension: str
    """Lower-case, without the dot: the archived file is ``<patient>/<visit>/<view>.<extension>``."""
    verdict: Status
    checks: tuple[CheckRow, ...]
    """Failing checks first, then warnings, then passes."""
    baseline_photo_id: int | None
    """The ledger's baseline photo of the view (also when its file is missing: see ``baseline_missing``)."""
    baseline_missing: str | None
    """Set when a follow-up has no usable baseline and was checked alone: says so and why."""
    existing: str | None
    """The photo of this view already in the archive (accepting will be refused), else None."""
    digest: str
    size_bytes: int
    elapsed_s: float
    metadata: PhotoMetadata = field(repr=False, compare=False)
    preview: np.ndarray | None = field(repr=False, compare=False)
    """The shot as uint8 RGB, longest side <= ``SCREEN_SIDE``; None when its pixels are unreadable."""
    ghost: np.ndarray | None = field(repr=False, compare=False)
    """The baseline over the shot at the preview's size (see :data:`GHOST_LEGEND`); None without a baseline."""


@dataclass(frozen=True)
class CaptureRow:
    """One recorded decision (a row of the ledger's ``captures``)."""

    id: int
    patient: str
    visit: str
    view: str
    operator: str
    station: str | None
    decision: str
    verdict: Status
    reasons: tuple[CheckRow, ...]
    digest: str
    size_bytes: int
    photo_id: int | None
    relative_path: str | None
    """Where an accepted shot is in the archive (None for a retake)."""
    recorded_at: dt.datetime
    """UTC."""


@dataclass(frozen=True)
class WatchedShot:
    """An image file in the watched (tethering) folder."""

    name: str
    path: Path
    size_bytes: int
    modified: dt.datetime
    """Local time, with its offset."""


# --------------------------------------------------------------------------- checking


def _names(patient: str, visit: str, view: str, protocol: Protocol) -> None:
    """Patient, visit and view become folder and file names: one safe path component each."""
    validate_patient(patient)
    validate_label(visit, "visit label")
    validate_label(view, "view name")
    if not protocol.views.is_known(view):
        raise InputError(f"unknown view {view!r}: the protocol's views are {', '.join(protocol.views.global_views)} "
                         f"and {protocol.views.trichoscopy_prefix}<site>")


def _extension(filename: str, protocol: Protocol) -> str:
    name = re.split(r"[/\\]", filename)[-1]
    stem, dot, ext = name.rpartition(".")
    ext = ext.lower()
    if not dot or not stem or ext not in protocol.views.extensions:
        raise InputError(f"{name!r} is not a photo type of the protocol: use "
                         + ", ".join(f".{e}" for e in protocol.views.extensions))
    return ext


def _sniff(data: bytes) -> str | None:
    """The image format the bytes start with (JPEG, PNG, TIFF or HEIF), else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "HEIF"
    return None


def _refuse_early(data: bytes, filename: str, ext: str) -> None:
    """Everything refusable from the bytes and the header alone (nothing is decoded)."""
    if not data:
        raise InputError(f"empty file (0 bytes): {filename}")
    if len(data) > MAX_SHOT_BYTES:
        raise InputError(f"{filename} is {len(data) / 2**20:.0f} MB, more than the {MAX_SHOT_BYTES // 2**20} MB "
                         "a shot may have")
    found, expected = _sniff(data), _FORMATS.get(ext)
    if found is None:
        raise InputError(f"not an image: {filename} is not a JPEG, PNG, TIFF or HEIF file")
    if found != expected:
        raise InputError(f"{filename} holds a {found} image but is named .{ext}: use the camera's original file")
    # Pillow opens lazily: the header gives the size without decoding a pixel. Its own bomb
    # check (set in photostation.imaging) only errors above twice the limit: check here too.
    header = read_header(data, filename)
    limit = Image.MAX_IMAGE_PIXELS or 300_000_000
    if header.width * header.height > limit:
        raise InputError(f"{filename} claims {header.width}x{header.height} pixels, more than the "
                         f"{limit / 1e6:.0f} megapixels that are decoded safely")


def _archive_root(session: Session) -> Path | None:
    info = session.get(LedgerInfo, "archive_root")
    return Path(info.value) if info else None


def _photo_of(session: Session, patient: str, visit: str, view: str) -> Photo | None:
    return session.scalar(select(Photo).join(Visit).join(Patient)
                          .where(Patient.code == patient, Visit.label == visit, Photo.view == view))


def _file_of_view(root: Path, patient: str, visit: str, view: str, protocol: Protocol) -> Path | None:
    """A file of this view in the archive folder, whatever its extension (one per view)."""
    folder = root / patient / visit
    if not folder.is_dir():
        return None
    return next((p for p in sorted(folder.iterdir())
                 if p.stem == view and p.suffix[1:].lower() in protocol.views.extensions), None)


def _existing(factory: sessionmaker[Session], patient: str, visit: str, view: str, protocol: Protocol) -> str | None:
    with factory() as session:
        photo, root = _photo_of(session, patient, visit, view), _archive_root(session)
    if photo is not None:
        return photo.relative_path
    found = _file_of_view(root, patient, visit, view, protocol) if root else None
    return found.relative_to(root).as_posix() if found else None


def _baseline(factory: sessionmaker[Session], protocol: Protocol, patient: str, view: str
              ) -> tuple[int | None, Path | None, str | None]:
    """``(photo id, file, None)`` of the baseline photo of the view, or ``(id, None, why not)``."""
    missing = f"no baseline photo of {view} for {patient}: "
    alone = "the shot is checked alone, without the comparison with the baseline"
    with factory() as session:
        root = _archive_root(session)
        photo = _photo_of(session, patient, protocol.baseline_label, view)
        if photo is None or root is None:
            return None, None, f"{missing}the ledger holds no '{protocol.baseline_label}' photo of this view; {alone}"
        photo_id, relative = photo.id, photo.relative_path
    path = root / relative
    if not path.is_file():
        return photo_id, None, f"{missing}{relative} is in the ledger but not in the archive ({alone}); " \
                               "restore it from the backup"
    try:
        read_header(path)
    except InputError as exc:
        return photo_id, None, f"{missing}{relative} cannot be read ({exc}); {alone}"
    return photo_id, path, None


def _screen(rgb: np.ndarray, side: int = SCREEN_SIDE) -> np.ndarray:
    """uint8 RGB with the longest side at most ``side``."""
    if rgb.dtype != np.uint8:
        rgb = (rgb >> 8).astype(np.uint8)
    scale = side / max(rgb.shape[:2])
    if scale < 1:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return rgb


def _normalised_grey(rgb: np.ndarray) -> np.ndarray:
    """Grey divided by its own smooth illumination (blurred over an eighth of the frame), with a
    fixed mean and spread: a change of exposure or of the light's fall-off between the two shots
    does not tint the ghost, which is about where things are (the light has its own checks)."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    height, width = grey.shape
    small = cv2.resize(grey, (max(1, width // 8), max(1, height // 8)), interpolation=cv2.INTER_AREA)
    light = cv2.resize(cv2.GaussianBlur(small, (0, 0), max(small.shape) / 8), (width, height))
    grey /= light + 8.0
    grey = (grey - grey.mean()) / max(float(grey.std()), 1e-6)
    return np.clip(128 + 50 * grey, 0, 255).astype(np.uint8)


@lru_cache(maxsize=8)
def _baseline_grey(path: str, _mtime_ns: int, _size: int, shape: tuple[int, int]) -> np.ndarray:
    """The baseline fitted (aspect kept, centred) into a frame of ``shape``, as normalised grey.
    Cached by file and date: the photographer checks shot after shot against the same baseline."""
    base = _normalised_grey(_screen(decode(path, path, max_side=SCREEN_SIDE)))
    height, width = shape
    scale = min(width / base.shape[1], height / base.shape[0])
    size = (max(1, round(base.shape[1] * scale)), max(1, round(base.shape[0] * scale)))
    fitted = cv2.resize(base, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    frame = np.full(shape, 128, np.uint8)
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    frame[top:top + size[1], left:left + size[0]] = fitted
    frame.setflags(write=False)  # shared by every caller of the cache
    return frame


def _ghost(preview: np.ndarray, baseline: Path) -> np.ndarray:
    """The baseline over the shot in false colour: baseline in magenta, shot in green (both as
    illumination-normalised grey, :func:`_normalised_grey`).

    Why this and not edges or a 50 % blend: scalp photos are dense hair texture, so edge maps
    of the baseline are either all hair strands (hiding the shot) or miss the head outline,
    whose brightness barely differs from the background; a plain blend shows two overlapping
    photos with nothing telling which is which. In false colour every structure that is where
    it was shows grey, and every offset shows as a magenta (baseline) and a green (new shot)
    copy side by side: the direction to move, turn or step back is read off directly, for a
    crown (the head's outline, the whorl) as for a close-up (the single hairs)."""
    stat = baseline.stat()
    base = _baseline_grey(str(baseline), stat.st_mtime_ns, stat.st_size, preview.shape[:2])
    shot = _normalised_grey(preview)
    return np.dstack([base, shot, base])


def _rows(checks: list[Check]) -> tuple[CheckRow, ...]:
    rows = [CheckRow(c.name, c.status, c.message) for c in checks]
    return tuple(sorted(rows, key=lambda r: _ORDER[r.status]))  # stable: the checks' own order within a status


def check_shot(data: bytes, filename: str, patient: str, visit: str, view: str, factory: sessionmaker[Session],
               protocol: Protocol, *, now: dt.datetime | None = None) -> ShotCheck:
    """Check a new shot, against the baseline photo of its view when there is one.

    Parameters
    ----------
    data : bytes
        The file as the camera wrote it.
    filename : str
        Its name; the extension must be one of ``protocol.views.extensions`` and match the content.
    patient, visit, view : str
        Where the shot belongs: a pseudonymous patient code, a visit label and one of the
        protocol's views.
    factory : sessionmaker
        The ledger (from :func:`photostation.ledger.open_ledger`); the baseline is looked up there.
    protocol : Protocol
    now : datetime, optional
        The current time for the timestamp rules (default: the system clock).

    Returns
    -------
    ShotCheck
        A shot for the baseline visit, or a follow-up without a baseline, is checked alone
        (the latter says so in ``baseline_missing``).

    Raises
    ------
    InputError
        Before anything is decoded: bad names or view, empty or too large data, bytes that
        are not an image of the protocol's types or do not match the extension, too many pixels.
    """
    started = time.perf_counter()
    _names(patient, visit, view, protocol)
    ext = _extension(filename, protocol)
    data = bytes(data)
    _refuse_early(data, filename, ext)
    digest = hashlib.new(protocol.hash_algorithm, data).hexdigest()
    baseline_id, baseline_path, missing = None, None, None
    if visit != protocol.baseline_label:
        baseline_id, baseline_path, missing = _baseline(factory, protocol, patient, view)
    with tempfile.TemporaryDirectory(prefix="photostation-shot-") as folder:
        shot = Path(folder) / f"{view}.{ext}"
        shot.write_bytes(data)
        report = check_photo(shot, protocol, baseline=baseline_path, now=now, view=view, visit=visit)
    checks = list(report.checks)
    if protocol.scheduled(visit) is None:
        checks.append(Check("schedule.visit", "warn", visit, [v.label for v in protocol.schedule],
                            f"visit label '{visit}' is not in the protocol schedule: check the visit"))
    try:
        preview = _screen(decode(data, filename, max_side=SCREEN_SIDE))
    except InputError:  # truncated pixel data: the checks say so (file.decodable)
        preview = None
    ghost = None
    if preview is not None and baseline_path is not None:
        try:
            ghost = _ghost(preview, baseline_path)
        except InputError:  # the baseline's pixel data is damaged: its checks say so (baseline.file.decodable)
            pass
    return ShotCheck(patient, visit, view, filename, ext, overall_verdict(checks), _rows(checks), baseline_id, missing,
                     _existing(factory, patient, visit, view, protocol), digest, len(data),
                     time.perf_counter() - started, report.metadata, preview, ghost)


# --------------------------------------------------------------------------- recording


def _free_text(value: str | None, what: str, required: bool) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise InputError(f"{what} is required")
        return None
    if not _FREE_TEXT.match(value):
        raise InputError(f"{what} must be 1-200 characters without control characters")
    return value


def _write_new(target: Path, data: bytes) -> None:
    """Write ``target`` whole or not at all, and never over an existing file: a temporary file
    in the same folder, then a hard link to the name (which, unlike a rename, fails when the
    name exists)."""
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        try:
            os.link(temp, target)
        except FileExistsError:
            raise InputError(f"{target.name} appeared in {target.parent} meanwhile: nothing written") from None
        except OSError:  # no hard links on this file system: a rename, after a last look
            if target.exists():
                raise InputError(f"{target.name} appeared in {target.parent} meanwhile: nothing written") from None
            os.replace(temp, target)
    finally:
        Path(temp).unlink(missing_ok=True)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders an accept made, innermost first, if they are (still) empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            pass


def _undo(factory: sessionmaker[Session], target: Path, relative: str, made: list[Path], visit_was_new: bool,
          patient: str, visit: str) -> None:
    """Remove what an accept that failed half-way wrote: the file, its new folders, its ledger rows."""
    target.unlink(missing_ok=True)
    _remove_empty(made)
    with factory.begin() as session:
        photo = session.scalar(select(Photo).where(Photo.relative_path == relative))
        if photo is not None:
            session.delete(photo)
            session.flush()
        if visit_was_new:
            row = session.scalar(select(Visit).join(Patient).where(Patient.code == patient, Visit.label == visit))
            if row is not None and not row.photos:
                session.delete(row)


def _as_row(record: CaptureRecord, relative: str | None) -> CaptureRow:
    return CaptureRow(record.id, record.patient, record.visit, record.view, record.operator, record.station,
                      record.decision, record.verdict, tuple(CheckRow(**r) for r in record.reasons or ()),
                      record.digest, record.size_bytes, record.photo_id, relative,
                      record.recorded_at.replace(tzinfo=dt.timezone.utc))


def record_capture(factory: sessionmaker[Session], shot: ShotCheck, data: bytes, decision: str, operator: str,
                   station: str | None, protocol: Protocol, *, now: dt.datetime | None = None) -> CaptureRow:
    """Record the photographer's decision on a checked shot; an accepted shot is archived and ingested.

    Parameters
    ----------
    factory : sessionmaker
        The ledger.
    shot : ShotCheck
        From :func:`check_shot`.
    data : bytes
        The bytes that were checked (their fingerprint must be ``shot.digest``).
    decision : {"accept", "retake"}
        ``accept`` writes the file to ``<archive>/<patient>/<visit>/<view>.<ext>`` (never over
        an existing photo of the view), ingests it and records the capture with the new photo's
        id; ``retake`` only records the capture.
    operator : str
        Who took the shot (1-200 characters).
    station : str, optional
    protocol : Protocol
    now : datetime, optional
        Time of the record and of the ingest rules (default: the system clock).

    Returns
    -------
    CaptureRow

    Raises
    ------
    InputError
        On a bad decision or operator, bytes other than the checked ones, an accept when the
        ledger holds no archive or the view already has a photo (nothing is written then), or
        an ingest that fails (the written file is removed again).
    """
    if decision not in DECISIONS:
        raise InputError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    operator = _free_text(operator, "operator", required=True)
    station = _free_text(station, "station", required=False)
    _names(shot.patient, shot.visit, shot.view, protocol)
    data = bytes(data)
    if len(data) != shot.size_bytes or hashlib.new(protocol.hash_algorithm, data).hexdigest() != shot.digest:
        raise InputError("these bytes are not the shot that was checked: check the shot again")
    now = now or dt.datetime.now(dt.timezone.utc)
    recorded_at = now.astimezone(dt.timezone.utc).replace(tzinfo=None)
    photo_id, relative = None, None
    if decision == "accept":
        photo_id, relative = _accept(factory, shot, data, protocol, now)
    reasons = [{"name": r.name, "status": r.status, "message": r.message} for r in shot.checks if r.status != "pass"]

    def write(session: Session) -> CaptureRecord:
        # Made here, not once outside: a retried transaction must insert a fresh row.
        record = CaptureRecord(patient=shot.patient, visit=shot.visit, view=shot.view, operator=operator,
                               station=station, decision=decision, verdict=shot.verdict, reasons=reasons,
                               digest=shot.digest, size_bytes=shot.size_bytes, photo_id=photo_id,
                               recorded_at=recorded_at)
        session.add(record)
        session.flush()
        trail.append(session, "capture", record)  # chained in the same transaction: both or neither
        return record

    return _as_row(trail.transaction(factory, write), relative)


def _accept(factory: sessionmaker[Session], shot: ShotCheck, data: bytes, protocol: Protocol,
            now: dt.datetime) -> tuple[int, str]:
    """Write the shot into the archive and ingest it alone; ``(photo id, relative path)``."""
    with factory() as session:
        root = _archive_root(session)
        visit_was_new = session.scalar(select(Visit).join(Patient).where(
            Patient.code == shot.patient, Visit.label == shot.visit)) is None
    if root is None:
        raise InputError("the ledger holds no archive yet: ingest the archive first (photostation ingest ARCHIVE)")
    existing = _existing(factory, shot.patient, shot.visit, shot.view, protocol)
    if existing:
        raise InputError(f"{existing} is already in the archive: a photo is never replaced; nothing written")
    relative = f"{shot.patient}/{shot.visit}/{shot.view}.{shot.extension}"
    target = root / relative
    # Folder links are never followed by ingest: a patient or visit folder that is a link (or
    # leads outside the archive) would have the shot written elsewhere. Refused before writing.
    for folder in (root / shot.patient, root / shot.patient / shot.visit):
        if folder.is_symlink() or (folder.exists() and not folder.resolve().is_relative_to(root.resolve())):
            raise InputError(f"{folder.relative_to(root).as_posix()} in the archive is a link: the shot is not "
                             "written through it; nothing written")
    made = [p for p in (root / shot.patient, target.parent) if not p.exists()]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write to {target.parent}: {exc.strerror or exc}") from None
    try:
        _write_new(target, data)
    except BaseException:
        _remove_empty(made)
        raise
    try:
        report = ingest_archive(root, factory, protocol, now=now, skip=lambda entry: entry.relative_path != relative)
        with factory() as session:
            photo = session.scalar(select(Photo).where(Photo.relative_path == relative))
            if photo is None or photo.digest != shot.digest:
                why = next((s.reason for s in report.skipped if s.relative_path == relative), "not found by the scan")
                raise InputError(f"ingest did not take {relative} ({why})")
            return photo.id, relative
    except BaseException as exc:
        _undo(factory, target, relative, made, visit_was_new, shot.patient, shot.visit)
        if isinstance(exc, InputError):
            raise InputError(f"the shot could not be added to the ledger, nothing kept: {exc}") from None
        raise


def capture_history(factory: sessionmaker[Session], patient: str | None = None, limit: int = 50) -> list[CaptureRow]:
    """The recorded captures, newest first.

    Parameters
    ----------
    factory : sessionmaker
        The ledger.
    patient : str, optional
        Only this patient's captures.
    limit : int
        At most this many rows (1-1000).

    Returns
    -------
    list of CaptureRow
    """
    if patient is not None:
        validate_patient(patient)
    if not 1 <= int(limit) <= 1000:
        raise InputError(f"limit must be 1-1000, not {limit}")
    query = (select(CaptureRecord, Photo.relative_path).outerjoin(Photo, CaptureRecord.photo_id == Photo.id)
             .order_by(CaptureRecord.recorded_at.desc(), CaptureRecord.id.desc()).limit(int(limit)))
    if patient is not None:
        query = query.where(CaptureRecord.patient == patient)
    with factory() as session:
        return [_as_row(record, relative) for record, relative in session.execute(query)]


# --------------------------------------------------------------------------- watched folder


def watched_shots(folder: Path, extensions, *, settle_s: float = SETTLE_S, now: float | None = None
                  ) -> list[WatchedShot]:
    """Image files in the camera's watched (tethering / hot) folder, newest first.

    Parameters
    ----------
    folder : Path
        The folder the camera software writes into (not searched recursively).
    extensions : iterable of str
        Accepted extensions, with or without the dot (e.g. ``protocol.views.extensions``).
    settle_s : float
        Files modified less than this many seconds ago are left out: the camera may still be
        writing them (they show on the next look).
    now : float, optional
        The current time as a POSIX timestamp (default: the system clock).

    Returns
    -------
    list of WatchedShot
        Hidden files (``.name``, ``~name``), partial downloads (``.part``, ``.tmp``, ...),
        empty files and other types are left out.

    Raises
    ------
    InputError
        When the folder does not exist or cannot be read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"watched folder not found: {folder}" if not folder.exists()
                         else f"the watched folder is not a folder: {folder}")
    wanted = {e.lower().lstrip(".") for e in extensions}
    now = time.time() if now is None else now
    found = []
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise InputError(f"cannot read the watched folder {folder}: {exc.strerror or exc}") from None
    for path in entries:
        name = path.name
        suffixes = {s.lower() for s in path.suffixes}
        if name.startswith((".", "~")) or suffixes & _PARTIAL_SUFFIXES or path.suffix[1:].lower() not in wanted:
            continue
        try:
            stat = path.stat()
        except OSError:  # removed meanwhile
            continue
        if not path.is_file() or stat.st_size == 0 or now - stat.st_mtime < settle_s:
            continue
        modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc).astimezone()
        found.append(WatchedShot(name, path, stat.st_size, modified))
    return sorted(found, key=lambda s: (s.modified, s.name), reverse=True)
