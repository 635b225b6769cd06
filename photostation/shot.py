"""Single-shot checks: the photographer's accept/retake verdict for one photo, optionally
against the baseline photo of the same view.

This is the library behind ``photostation check``; ingest runs the same rules per photo.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from concurrent.futures import ThreadPoolExecutor
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
from calibration.cards import find_card
from calibration.patches import read_patches
from photostation.qa.checks import (CardGreys, PairAnalysis, ShotAnalysis, analyse_shot, compare_shots,
                                    pair_image_checks, register_shots, shot_checks)
from photostation.qa.pixels import ShotPixels, prepare
from photostation.qa.pose import Intrinsics, intrinsics_from_exif
from photostation.qa.registration import Registration
from photostation.results import Check, Status, verdict

@dataclass(frozen=True)
class LoadedPhoto:
    """A photo read once from disk: its bytes' fingerprint, metadata and a preview."""

    name: str
    digest: str
    """Hex digest of the file's bytes with the protocol's hash algorithm."""
    size_bytes: int
    metadata: PhotoMetadata
    preview: np.ndarray | None = field(repr=False)
    """RGB pixels at reduced resolution (the image checks' working copy, decoded with the
    JPEG decoder's DCT scaling: much faster than full resolution); ``None`` when the pixel
    data is unreadable."""
    decode_error: str | None

    def intrinsics(self) -> Intrinsics:
        """Camera intrinsics at the preview's resolution, from EXIF (or a stated assumption)."""
        m = self.metadata
        size = (self.preview.shape[1], self.preview.shape[0])
        return intrinsics_from_exif(size, m.focal_length_35mm, m.focal_length_mm, m.sensor_long_side_mm)

    def intrinsics_at(self, size: tuple[int, int]) -> Intrinsics:
        """Camera intrinsics for a copy of the photo of ``size`` (width, height)."""
        m = self.metadata
        return intrinsics_from_exif(size, m.focal_length_35mm, m.focal_length_mm, m.sensor_long_side_mm)


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
        preview = decode(data, label, max_side=protocol.qa.work_side_px)
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
    pair: PairAnalysis | None = field(default=None, repr=False)
    """Registration and pose against the baseline (for the ghost overlay)."""

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
        if self.pair is not None:
            reg = self.pair.registration
            data["registration"] = {
                "matrix": self.pair.matrix_original.round(8).tolist() if self.pair.matrix_original is not None else None,
                "inliers": reg.inliers, "residual_px": reg.residual_px, "overlap_pct": reg.overlap_pct,
                "camera_model": self.pair.pose.intrinsics if self.pair.pose else None,
            }
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


def shot_pixels(photo: LoadedPhoto, protocol: Protocol) -> ShotPixels | None:
    """The working copies of a photo's pixels (``None`` when they are unreadable)."""
    if photo.preview is None or min(photo.preview.shape[:2]) < 8:
        return None
    m = photo.metadata
    original = (m.width or photo.preview.shape[1], m.height or photo.preview.shape[0])
    return prepare(photo.preview, original, protocol.qa.work_side_px, protocol.qa.measure_side_px)


def analyse(photo: LoadedPhoto, protocol: Protocol, view: str | None, pixels: ShotPixels | None = None,
            card: CardGreys | None | bool = True, pair_only: bool = False) -> ShotAnalysis | None:
    """Image measurements of one photo (``None`` when its pixels are unreadable).

    ``pixels`` and ``card`` may be given when already computed (``card=True``: search the
    photo for a calibration card; ``None``: there is none). ``pair_only``: only what the
    comparison with another shot needs (a baseline's own measures are not repeated)."""
    pixels = pixels or shot_pixels(photo, protocol)
    if pixels is None:
        return None
    if card is True:
        card = _card_greys(photo.preview, pixels, protocol, view_kind(view, protocol) == "trichoscopy")
    return analyse_shot(pixels, whole_frame=view_kind(view, protocol) == "trichoscopy", rules=protocol.qa,
                        card=card or None, pair_only=pair_only)


def _card_greys(preview: np.ndarray, pixels: ShotPixels, protocol: Protocol, close_up: bool = False
                ) -> CardGreys | None:
    """The grey patches of a calibration card in the shot, read on the measuring copy (no
    ColorChecker is looked for in a trichoscopy close-up unless the protocol says so)."""
    if protocol.qa.card_search_side_px <= 0:  # the clinic keeps no card in its shots
        return None
    rgb8 = preview if preview.dtype == np.uint8 else np.clip(np.round(preview / 257.0), 0, 255).astype(np.uint8)
    rules = protocol.calibration
    card = find_card(rgb8, max_side=protocol.qa.card_search_side_px, colorchecker_reference=rules.colorchecker_reference,
                     colorchecker=rules.colorchecker_in_close_ups or not close_up)
    if card is None:
        return None
    factor = pixels.linear.shape[1] / preview.shape[1]
    rules = protocol.calibration
    greys = list(card.neutrals)
    readings = read_patches(pixels.linear, pixels.saturated > 0.5, card.patch_quads_px[greys] * factor,
                            shrink=rules.patch_shrink, max_clipped_share=rules.patch_max_clipped_share,
                            max_variation=rules.patch_max_variation, min_pixels=max(4, rules.patch_min_pixels // 4))
    usable = [i for k, i in enumerate(greys) if readings.valid[k]]
    if len(usable) < 2:
        return None
    measured = readings.means[readings.valid]
    return CardGreys(card.type, tuple(usable), measured, card.reference_linear[usable], card.corners_px * factor)


def photo_checks(photo: LoadedPhoto, protocol: Protocol, now: dt.datetime, view: str | None,
                 analysis: ShotAnalysis | None = None) -> list[Check]:
    """Rules that need only the photo itself: readability, timestamps, protocol settings, and
    the image checks when ``analysis`` is given."""
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
    if analysis is not None:
        checks += shot_checks(analysis, protocol.qa)
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


def _measure_pair(photo: Path | str, baseline: Path | str, protocol: Protocol, view: str | None
                  ) -> tuple[LoadedPhoto, LoadedPhoto, ShotAnalysis | None, ShotAnalysis | None, Registration | None]:
    """Read and measure a shot and its baseline side by side.

    Decoding and most of the image maths release the GIL, so a second core shortens the
    photographer's wait. The registration (the longest step), the card search and the
    image measures all start as soon as the pixels are read: most shots carry no card, so
    the measures are taken without one and are only repeated when a card is found. The
    baseline is searched for a card only when the shot has one (a card comparison needs
    both).
    """
    def read(path: Path | str) -> tuple[LoadedPhoto, ShotPixels | None]:
        loaded = load_photo(path, protocol)
        return loaded, shot_pixels(loaded, protocol)

    close_up = view_kind(view, protocol) == "trichoscopy"
    with ThreadPoolExecutor(max_workers=4) as pool:
        (loaded, pixels), (base, base_pixels) = pool.map(read, (photo, baseline))
        reg_job = card_job = None
        if pixels is not None and base_pixels is not None:
            reg_job = pool.submit(register_shots, pixels, base_pixels, protocol.qa,
                                  view_kind(view, protocol) != "global")
        if pixels is not None:
            card_job = pool.submit(_card_greys, loaded.preview, pixels, protocol, close_up)
        shot_job = pool.submit(analyse, loaded, protocol, view, pixels, None)
        base_job = pool.submit(analyse, base, protocol, view, base_pixels, None, True)
        card = card_job.result() if card_job is not None else None
        base_card = (_card_greys(base.preview, base_pixels, protocol, close_up)
                     if card is not None and base_pixels is not None else None)
        analysis, base_analysis = shot_job.result(), base_job.result()
        if card is not None:
            analysis = analyse(loaded, protocol, view, pixels, card)
        if base_card is not None:
            base_analysis = analyse(base, protocol, view, base_pixels, base_card, True)
        registration = reg_job.result() if reg_job is not None else None
    return loaded, base, analysis, base_analysis, registration


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
    registration = None
    if baseline is None:
        loaded = load_photo(photo, protocol)
        analysis = analyse(loaded, protocol, view)
    else:
        loaded, base, analysis, base_analysis, registration = _measure_pair(photo, baseline, protocol, view)
    checks = photo_checks(loaded, protocol, now, view, analysis)
    base_meta, pair = None, None
    if baseline is not None:
        base_meta = base.metadata
        # The baseline's own metadata rules; its image was judged when it was taken.
        for c in photo_checks(base, protocol, now, None):
            checks.append(Check(f"baseline.{c.name}", c.status, c.value, c.limit, f"baseline: {c.message}"))
        checks += pair_checks(loaded.metadata, base.metadata, protocol, visit)
        if analysis is not None and base_analysis is not None:
            pair = compare_shots(analysis, base_analysis, loaded.intrinsics_at(analysis.pixels.detail_size),
                                 base.intrinsics_at(base_analysis.pixels.detail_size), protocol.qa, registration)
            checks += pair_image_checks(pair, protocol.qa)
    return ShotReport(verdict(checks), tuple(checks), loaded.metadata, base_meta, view, visit, pair)
