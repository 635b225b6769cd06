"""Single-shot checks: the photographer's accept/retake verdict for one photo, optionally
against the baseline photo of the same view.

This is the library behind ``photostation check``; ingest runs the same rules per photo.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from photostation import camera_settings, timestamps
from photostation.archive import infer_from_path
from photostation.errors import InputError
from photostation.imaging import decode, read_bytes
from photostation.metadata import PhotoMetadata, read_metadata
from photostation.protocol import Protocol
from photostation.results import Check, Status, verdict

# Pixel checks of this module only need to know the data decodes; later checks work on a
# reduced copy, which JPEG decodes at a fraction of the cost of full resolution.
PREVIEW_MAX_SIDE = 1600


@dataclass(frozen=True)
class LoadedPhoto:
    """A photo read once from disk: its bytes' fingerprint, metadata and a preview."""

    name: str
    digest: str
    """Hex digest of the file's bytes with the protocol's hash algorithm."""
    size_bytes: int
    metadata: PhotoMetadata
    preview: np.ndarray | None = field(repr=False)
    """RGB pixels at reduced resolution; ``None`` when the pixel data is unreadable."""
    decode_error: str | None


def load_photo(source: Path | str | bytes, protocol: Protocol, name: str | None = None) -> LoadedPhoto:
    """Read a photo once: hash its bytes, read its metadata and decode a preview.

    Parameters
    ----------
    source : Path, str or bytes
        The photo file or its bytes.
    protocol : Protocol
        Gives the hash algorithm.
    name : str, optional
        Name used in messages (default: the file name).

    Returns
    -------
    LoadedPhoto

    Raises
    ------
    InputError
        When the file is missing, empty or not an image at all. A file whose header is
        readable but whose pixel data is truncated is returned with ``decode_error`` set.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "photo")
    data = source if isinstance(source, bytes) else read_bytes(source)
    if not data:
        raise InputError(f"empty file (0 bytes): {label}")
    metadata = read_metadata(data, label)
    preview, error = None, None
    try:
        preview = decode(data, label, max_side=PREVIEW_MAX_SIDE)
    except InputError as exc:
        error = str(exc)
    return LoadedPhoto(label, hashlib.new(protocol.hash_algorithm, data).hexdigest(), len(data),
                       metadata, preview, error)


@dataclass(frozen=True)
class ShotReport:
    """Verdict and checks of one photo. ``to_json()`` is the ``check --json`` contract."""

    verdict: Status
    checks: tuple[Check, ...]
    metadata: PhotoMetadata
    baseline_metadata: PhotoMetadata | None = None
    view: str | None = None
    visit: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "verdict": self.verdict,
            "checks": [c.to_dict() for c in self.checks],
            "metadata": self.metadata.contract(),
        }
        data["view"] = self.view
        data["visit"] = self.visit
        if self.baseline_metadata is not None:
            data["baseline_metadata"] = self.baseline_metadata.contract()
        return data


def view_kind(view: str | None, protocol: Protocol) -> str | None:
    """``"trichoscopy"``, ``"global"`` or ``None`` when the view is not known to the protocol."""
    if view is None:
        return None
    if protocol.views.is_trichoscopy(view):
        return "trichoscopy"
    if view in protocol.views.global_views:
        return "global"
    return None


def photo_checks(photo: LoadedPhoto, protocol: Protocol, now: dt.datetime, view: str | None) -> list[Check]:
    """Rules that need only the photo itself: readability, timestamps, protocol settings."""
    meta = photo.metadata
    rules = protocol.timestamps
    checks = []
    if photo.decode_error:
        checks.append(Check("file.decodable", "fail", None, None, f"{photo.decode_error}: retake or re-copy the file"))
    else:
        checks.append(Check("file.decodable", "pass", None, None, "pixel data decodes"))
    if meta.exif_problems:
        checks.append(Check("metadata.exif", "warn", list(meta.exif_problems), None,
                            f"unreadable EXIF value(s): {', '.join(meta.exif_problems)}"))
    else:
        checks.append(Check("metadata.exif", "pass", None, None, "EXIF values readable"))
    checks += [
        timestamps.check_present(meta),
        timestamps.check_not_future(meta, now, rules),
        timestamps.check_plausible(meta, rules),
        timestamps.check_modified_after_capture(meta, rules),
        timestamps.check_editing_software(meta, rules),
    ]
    kind = view_kind(view, protocol)
    if kind is not None:
        required = protocol.camera.required_trichoscopy if kind == "trichoscopy" else protocol.camera.required_global
        checks += camera_settings.check_required(meta, required, protocol.camera.required_severity)
    return checks


def pair_checks(meta: PhotoMetadata, baseline: PhotoMetadata, protocol: Protocol,
                visit: str | None) -> list[Check]:
    """Rules between a follow-up and its baseline: order, schedule window, fixed settings."""
    checks = [timestamps.check_order(meta, baseline)]
    scheduled = protocol.scheduled(visit) if visit else None
    if scheduled is not None and scheduled.day != 0:
        captured, base = meta.captured_datetime, baseline.captured_datetime
        days = timestamps.difference(captured, base).total_seconds() / 86400 if captured and base else None
        checks.append(timestamps.check_schedule_window(days, scheduled, protocol.timestamps))
    checks += camera_settings.compare_with_baseline(meta, baseline, protocol.camera)
    return checks


def check_photo(photo: Path | str, protocol: Protocol, *, baseline: Path | str | None = None,
                now: dt.datetime | None = None, view: str | None = None,
                visit: str | None = None) -> ShotReport:
    """Check one photo, optionally against its baseline.

    Parameters
    ----------
    photo : Path or str
        The new shot.
    protocol : Protocol
    baseline : Path or str, optional
        The baseline photo of the same view. Its own timestamp rules are checked too
        (as ``baseline.*``): an edited or undated baseline must not pass silently.
    now : datetime, optional
        The current time (default: the system clock, UTC).
    view, visit : str, optional
        Default: taken from the archive layout ``<patient>/<visit>/<view>.<ext>``.

    Returns
    -------
    ShotReport
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    _, path_visit, path_view = infer_from_path(photo)
    view = view or path_view
    visit = visit or path_visit
    loaded = load_photo(photo, protocol)
    checks = photo_checks(loaded, protocol, now, view)
    base_meta = None
    if baseline is not None:
        base = load_photo(baseline, protocol)
        base_meta = base.metadata
        for c in photo_checks(base, protocol, now, None):
            checks.append(Check(f"baseline.{c.name}", c.status, c.value, c.limit, f"baseline: {c.message}"))
        checks += pair_checks(loaded.metadata, base.metadata, protocol, visit)
    return ShotReport(verdict(checks), tuple(checks), loaded.metadata, base_meta, view, visit)
