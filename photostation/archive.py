"""The photo archive on disk: ``ARCHIVE/<patient>/<visit>/<view>.<ext>`` plus an optional
``ARCHIVE/manifest.csv`` that adds or overrides operator, station, site and visit date.

Patient, visit and view names become database keys and file paths in reports, so they are
validated strictly: a pseudonymous patient code (letters, digits, ``-`` and ``_``), a
lower-case visit label (``baseline``, ``month-6``) and a lower-case view (``vertex``,
``tricho-vertex``). Anything else, path traversal and links leading out of the archive are
refused with a message naming the offending path.

Links: a link to a file inside the archive is read as that file (the audit then finds the
duplicate); a link to a folder is never followed; a link that leads outside the archive, dangles
outside it or loops is refused. Refused files are listed in ``skipped`` with the reason, and a
name that is not valid UTF-8 or holds control characters is shown escaped (``\\xff``, ``\\n``)
so that it cannot garble or forge a line of the output.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from photostation.errors import InputError
from photostation.protocol import Protocol

# \Z, not $: "$" also matches before a final newline, and "P001\n" is no patient code.
PATIENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("patient", "visit", "view", "operator", "station", "site", "visit_date")
_FREE_TEXT_RE = re.compile(r"^[^\x00-\x1f\x7f]{0,200}\Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class PhotoEntry:
    """One photo found in the archive, with the fields the manifest adds."""

    patient: str
    visit: str
    view: str
    path: Path
    """Absolute path of the file."""
    relative_path: str
    """``<patient>/<visit>/<view>.<ext>``, POSIX separators: the photo's key in the ledger."""
    operator: str | None = None
    station: str | None = None
    site: str | None = None
    visit_date: dt.date | None = None



def file_digest(path: Path | str, algorithm: str) -> str:
    """A file's fingerprint, read in blocks: the same hex digest as ingest's
    ``hashlib.new(algorithm, whole file)``, without holding the file in memory."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()

@dataclass(frozen=True)
class Skipped:
    relative_path: str
    reason: str


@dataclass(frozen=True)
class ArchiveScan:
    root: Path
    photos: tuple[PhotoEntry, ...]
    skipped: tuple[Skipped, ...]
    manifest_rows: int
    unmatched_manifest_rows: tuple[int, ...] = field(default=())


def _shown(value: str) -> str:
    """A refused value for a message: quoted, escaped, and cut after 70 characters."""
    return repr(value) if len(value) <= 70 else f"{value[:70]!r}..."


def _shown_path(relative: str) -> str:
    """A file name as it can be printed: as is, or escaped when it is not valid UTF-8 (bytes
    names on Linux arrive as surrogates) or holds control characters."""
    try:
        relative.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        if not _CONTROL_RE.search(relative):
            return relative
    return repr(relative.encode("utf-8", "surrogateescape"))[2:-1]


def validate_patient(value: str) -> str:
    if not PATIENT_RE.match(value):
        raise InputError(f"invalid patient ID {_shown(value)}: use a pseudonymous code of letters, digits, '-' or '_'")
    return value


def validate_label(value: str, what: str) -> str:
    if not LABEL_RE.match(value):
        raise InputError(f"invalid {what} {_shown(value)}: use lower-case letters, digits and '-'")
    return value


def parse_relative(relative: str) -> tuple[str, str, str, str]:
    """Split and validate ``<patient>/<visit>/<view>.<ext>``.

    Returns
    -------
    tuple of str
        ``(patient, visit, view, extension)``; the extension lower-case without the dot.

    Raises
    ------
    InputError
        On path traversal, absolute paths, wrong depth or invalid names.
    """
    if relative.startswith(("/", "\\")) or "\\" in relative or re.match(r"^[A-Za-z]:", relative):
        raise InputError(f"refused path {relative!r}: photo paths must be relative to the archive")
    parts = relative.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InputError(f"refused path {relative!r}: '.', '..' and empty path parts are not allowed")
    if len(parts) != 3:
        raise InputError(f"refused path {relative!r}: expected <patient>/<visit>/<view>.<ext>")
    patient, visit, filename = parts
    stem, dot, ext = filename.rpartition(".")
    if not dot or not stem:
        raise InputError(f"refused path {relative!r}: the file name needs an extension")
    validate_patient(patient)
    validate_label(visit, "visit label")
    validate_label(stem, "view name")
    return patient, visit, stem, ext.lower()


def _read_manifest(root: Path) -> list[dict[str, str]]:
    path = root / MANIFEST
    if not path.exists():
        return []
    if path.is_symlink() or not path.is_file():
        raise InputError(f"{MANIFEST}: must be a regular file")
    try:
        text = path.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{MANIFEST}: unreadable ({exc.__class__.__name__})") from None
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    unknown = [c for c in columns if c not in MANIFEST_COLUMNS]
    if unknown:
        raise InputError(f"{MANIFEST}: unknown column(s) {', '.join(unknown)}; allowed: {', '.join(MANIFEST_COLUMNS)}")
    if "patient" not in columns or "visit" not in columns:
        raise InputError(f"{MANIFEST}: needs the columns 'patient' and 'visit'")
    rows = []
    for number, row in enumerate(reader, start=2):
        if None in row:
            raise InputError(f"{MANIFEST} line {number}: more values than columns")
        rows.append({k: (v or "").strip() for k, v in row.items()} | {"_line": str(number)})
    return rows


def _manifest_overrides(rows: list[dict[str, str]]) -> dict[tuple[str, str, str], dict[str, object]]:
    """Key ``(patient, visit, view)``; ``view == ""`` applies to every photo of the visit."""
    overrides: dict[tuple[str, str, str], dict[str, object]] = {}
    for row in rows:
        line = row["_line"]
        try:
            patient = validate_patient(row["patient"])
            visit = validate_label(row["visit"], "visit label")
            view = validate_label(row["view"], "view name") if row.get("view") else ""
        except InputError as exc:
            raise InputError(f"{MANIFEST} line {line}: {exc}") from None
        values: dict[str, object] = {}
        for key in ("operator", "station", "site"):
            text = row.get(key, "")
            if text:
                if not _FREE_TEXT_RE.match(text):
                    raise InputError(f"{MANIFEST} line {line}: {key} has control characters or is too long")
                values[key] = text
        if row.get("visit_date"):
            if view:
                raise InputError(f"{MANIFEST} line {line}: visit_date belongs on the visit's row (leave 'view' empty)")
            try:
                values["visit_date"] = dt.date.fromisoformat(row["visit_date"])
            except ValueError:
                raise InputError(f"{MANIFEST} line {line}: visit_date {row['visit_date']!r} is not YYYY-MM-DD") from None
        key = (patient, visit, view)
        if key in overrides:
            raise InputError(f"{MANIFEST} line {line}: duplicate row for {'/'.join(k for k in key if k)}")
        overrides[key] = values | {"_line": int(line)}
    return overrides


def scan_archive(root: str | Path, protocol: Protocol) -> ArchiveScan:
    """Find the photos of an archive and attach the manifest's fields.

    Parameters
    ----------
    root : str or Path
        The archive folder.
    protocol : Protocol
        Gives the accepted file extensions.

    Returns
    -------
    ArchiveScan
        Photos sorted by path; files that are not photos of the layout are listed in
        ``skipped`` with the reason (hidden files and the manifest are ignored silently).

    Raises
    ------
    InputError
        When the archive is missing or the manifest is invalid (nothing is ingested then).
    """
    root = Path(root)
    if not root.exists():
        raise InputError(f"archive not found: {root}")
    if not root.is_dir():
        raise InputError(f"archive is not a folder: {root}")
    real_root = root.resolve()
    overrides = _manifest_overrides(_read_manifest(root))
    photos: list[PhotoEntry] = []
    skipped: list[Skipped] = []
    seen: dict[tuple[str, str, str], str] = {}
    used_rows: set[int] = set()
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        if path.is_dir() and not path.is_symlink():
            continue
        if relative == MANIFEST or (path.parent == root and path.suffix.lower() in (".json", ".md", ".txt", ".toml")):
            continue
        shown = _shown_path(relative)
        if shown != relative:
            skipped.append(Skipped(shown, "file name is not valid UTF-8 or has control characters: rename it"))
            continue
        try:
            if path.is_symlink():
                try:
                    target = path.resolve()
                except (OSError, RuntimeError):  # a loop (RuntimeError before Python 3.13)
                    raise InputError(f"refused link {relative!r}: it cannot be followed (a loop)") from None
                if not target.is_relative_to(real_root):
                    raise InputError(f"refused link {relative!r}: it points outside the archive")
                if path.is_dir():
                    raise InputError(f"refused link {relative!r}: links to folders are not followed")
            patient, visit, view, ext = parse_relative(relative)
        except InputError as exc:
            skipped.append(Skipped(relative, str(exc)))
            continue
        if ext not in protocol.views.extensions:
            skipped.append(Skipped(relative, f"not a photo type of the protocol (.{ext})"))
            continue
        if not path.is_file():
            skipped.append(Skipped(relative, "not a regular file"))
            continue
        key = (patient, visit, view)
        if key in seen:
            skipped.append(Skipped(relative, f"second file for the same view as {seen[key]}"))
            continue
        seen[key] = relative
        fields: dict[str, object] = {}
        for k in ((patient, visit, ""), key):
            if k in overrides:
                used_rows.add(int(overrides[k]["_line"]))  # type: ignore[arg-type]
                fields.update({n: v for n, v in overrides[k].items() if n != "_line"})
        photos.append(replace(PhotoEntry(patient, visit, view, path.resolve(), relative), **fields))
    unmatched = tuple(sorted(int(v["_line"]) for v in overrides.values()  # type: ignore[arg-type]
                             if int(v["_line"]) not in used_rows))  # type: ignore[arg-type]
    return ArchiveScan(root=root, photos=tuple(photos), skipped=tuple(skipped),
                       manifest_rows=len(overrides), unmatched_manifest_rows=unmatched)


def infer_from_path(path: str | Path) -> tuple[str | None, str | None, str | None]:
    """Best-effort ``(patient, visit, view)`` of a photo that sits in the archive layout."""
    path = Path(path)
    view = path.stem if LABEL_RE.match(path.stem) else None
    visit = path.parent.name if LABEL_RE.match(path.parent.name) else None
    patient = path.parent.parent.name if PATIENT_RE.match(path.parent.parent.name) else None
    return patient, visit, view
