"""One photo's numbers, without a baseline: the library behind ``photostation measure``.

A baseline has to be measured alone, and a clinician checks a count before trusting it:

- **Trichoscopy close-up**: the hairs (:func:`pipelines.trichoscopy.count_hairs`), one
  entry per hair, and the figures of :func:`pipelines.hair_summary.summarise_hairs`.
  With ``hairs_file`` the hairs come from a list a person corrected instead.
- **Global view**: hair coverage of the scalp in the frame (:mod:`pipelines.coverage`).

A number the photo cannot support is not given: a frame with no dark shafts against skin
(no hair, all hair, a blank or text-only frame) is ``measurable: false`` with the reason,
and long or light hair carries a ``density:`` flag.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from photostation.errors import InputError
from photostation.imaging import decode, read_bytes
from photostation.metadata import read_metadata
from photostation.protocol import Protocol
from pipelines.compare import _calibration, _finite, _measure_view, skin_rules_from
from pipelines.hair_summary import HairSummary, summarise_hairs
from pipelines.hairs_file import HairRow, read_hairs_csv

DETECTOR = "trichoscopy-1"
"""Name and version of the hair detector (``pipelines.trichoscopy``) in every result."""
MAX_OVERLAY_PCT = 50.0
"""A frame more than half burned-in text and marks shows too little scalp to measure."""

# The detectors work on reduced copies a few hairs wide at least: a single row or a 1-pixel
# "photo" has nothing to measure (and crashed OpenCV's resize).
MIN_SIDE_PX = 32


@dataclass(frozen=True)
class PhotoMeasurement:
    """Everything ``photostation measure`` reports; ``to_json()`` is the ``--json`` contract."""

    view: str
    hair_kind: str | None
    measurable: bool
    reason: str | None
    mm_per_px: float | None
    scale_source: str | None
    area_px: int
    area_cm2: float | None
    summary: HairSummary | None
    coverage_pct: float | None
    hairs: tuple[HairRow, ...]
    hairs_source: str | None
    flags: tuple[str, ...]
    image_size: tuple[int, int]
    """(width, height) of the photo as measured (file pixels, EXIF orientation applied)."""
    mask: np.ndarray | None = field(default=None, repr=False)
    """Hair (trichoscopy) or visible-scalp (global) mask, for the overlay."""

    def to_json(self) -> dict[str, Any]:
        s = self.summary
        r = _finite
        units = s.units_pct if s else {str(k): None for k in range(1, 5)}
        return {
            "view": self.view,
            "hair": self.hair_kind,
            "measurable": self.measurable,
            "reason": self.reason,
            "scale": {"mm_per_px": None if self.mm_per_px is None else round(self.mm_per_px, 8),
                      "source": self.scale_source},
            "area_px": self.area_px,
            "area_cm2": r(self.area_cm2, 5),
            "hair_count": s.hair_count if s else None,
            "density_per_cm2": r(s.density_per_cm2) if s else None,
            "mean_shaft_width_um": r(s.mean_shaft_width_um) if s else None,
            "vellus_pct": r(s.vellus_pct) if s else None,
            "terminal_pct": r(s.terminal_pct) if s else None,
            "units": {k: r(v) for k, v in units.items()},
            "cumulative_thickness_mm_per_cm2": r(s.cumulative_thickness_mm_per_cm2) if s else None,
            "shaft_diameter": {"median_um": r(s.median_shaft_width_um) if s else None,
                               "cv_pct": r(s.shaft_width_cv_pct) if s else None,
                               "thin_pct": r(s.thin_pct) if s else None},
            "coverage_pct": r(self.coverage_pct),
            "flags": list(self.flags),
            "hairs_source": self.hairs_source,
            "detector": DETECTOR if self.hairs_source == "detected" else None,
            "hairs": [{"root": [r(h.root[0], 1), r(h.root[1], 1)], "direction_deg": r(h.direction_deg, 1),
                       "length_um": r(h.length_um, 1), "width_um": r(h.width_um, 1), "unit": h.unit,
                       "fine": h.fine} for h in self.hairs],
        }


def _scale(rgb: np.ndarray, data: bytes, name: str, protocol: Protocol, mm_per_px: float | None, close_up: bool,
           station: str | None, device: str | None, factory: sessionmaker[Session] | None):
    """(mm_per_px of the decoded pixels, its source, the calibration report or None)."""
    from photostation.stations import select_profile

    if mm_per_px is not None:
        return protocol.scale.check("trichoscopy" if close_up else "global", mm_per_px), "--mm-per-px", None
    metadata = read_metadata(data, name)
    profile = None
    if station and factory is not None:
        captured = metadata.captured_datetime
        profile = select_profile(factory, station, captured.date() if captured else dt.date.today(), device)
    report, _ = _calibration(rgb, metadata, protocol, profile, close_up)
    if report.mm_per_px is None:
        return None, None, report
    return report.mm_per_px, ("card" if report.source == "fitted" else "station profile"), report


def measure_photo(photo: Path | str, protocol: Protocol, *, mm_per_px: float | None = None, view: str | None = None,
                  hair_kind: str | None = None, station: str | None = None, device: str | None = None,
                  factory: sessionmaker[Session] | None = None, hairs_file: Path | str | None = None
                  ) -> PhotoMeasurement:
    """Measure one photo.

    Parameters
    ----------
    photo : Path or str
    protocol : Protocol
        ``density.vellus_max_width_um``; the skin rules of global views. (The detector's own
        limits, e.g. when hair is too light to count, live with the detector.)
    mm_per_px : float, optional
        Scale of the file (default: a card in the frame or the station's profile).
    view : {"trichoscopy", "global"}, optional
        Default: from the file name in the archive layout (``tricho-*`` = trichoscopy).
    hair_kind : {"clipped", "unclipped"}, optional
        Default: from the shaft lengths (long hair: pieces over 3 mm hold most of the hair).
    station, device, factory
        The station profile (scale, colour correction) in the ledger.
    hairs_file : Path or str, optional
        A corrected hairs file (:mod:`pipelines.hairs_file`): measure from it instead of
        detecting.

    Raises
    ------
    InputError
        Unreadable photo or hairs file, a trichoscopy photo without a scale, a scale outside
        1-20 um per pixel.
    """
    photo = Path(photo)
    kind = _measure_view(view, photo, protocol)
    if hair_kind not in (None, "clipped", "unclipped"):
        raise InputError("--hair must be clipped or unclipped")
    data = read_bytes(photo)
    rgb = decode(data, photo.name)
    if min(rgb.shape[:2]) < MIN_SIDE_PX:
        raise InputError(f"the photo is {rgb.shape[1]} x {rgb.shape[0]} pixels: too small to measure "
                         f"(at least {MIN_SIDE_PX} pixels a side)")
    size = (int(rgb.shape[1]), int(rgb.shape[0]))
    scale, source, report = _scale(rgb, data, photo.name, protocol, mm_per_px, kind == "trichoscopy", station, device,
                                   factory)
    if kind == "global":
        if hairs_file is not None:
            raise InputError("--hairs is for trichoscopy close-ups; a global view measures coverage")
        return _measure_global(rgb, protocol, scale, source, report, size)
    if scale is None:
        raise InputError("no scale for this close-up (no card in the frame, no station profile): give --mm-per-px "
                         "or --station with --db")
    if not 0.001 <= scale <= 0.02:
        raise InputError(f"scale {scale * 1000:g} um per pixel is outside 1-20 um per pixel: not a trichoscopy "
                         "close-up (check --mm-per-px, which is in millimetres per pixel)")
    return _measure_close_up(rgb, protocol, scale, source, hair_kind, size,
                             None if hairs_file is None else Path(hairs_file))


def _measure_close_up(rgb: np.ndarray, protocol: Protocol, scale: float, source: str, hair_kind: str | None,
                      size: tuple[int, int], hairs_file: Path | None) -> PhotoMeasurement:
    from pipelines.trichoscopy import LIGHT_HAIR_LEVEL, MIN_SHAFT_LEVEL, burned_in_overlay, count_hairs

    rules = protocol.compare
    flags: list[str] = []
    if hairs_file is not None:
        rows = read_hairs_csv(hairs_file, size)
        overlay = burned_in_overlay(rgb)
        area_px = int((~overlay).sum())
        area_cm2 = area_px * scale ** 2 / 100.0
        widths = np.array([np.nan if h.width_um is None else h.width_um for h in rows], float)
        summary = summarise_hairs(widths, np.array([h.unit for h in rows], int), area_cm2, rules.vellus_max_width_um)
        flags.append(f"hairs from {hairs_file.name} ({len(rows)} hairs), not detected")
        return PhotoMeasurement("trichoscopy", hair_kind, True, None, scale, source, area_px, area_cm2, summary,
                                None, tuple(rows), "file", tuple(flags), size)
    result = count_hairs(rgb, scale)
    area_px = result.area_px
    area_cm2 = area_px * scale ** 2 / 100.0
    looks_long = result.unclipped
    kind = hair_kind or ("unclipped" if looks_long else "clipped")
    if result.excluded_overlay_pct > MAX_OVERLAY_PCT:
        return _not_measurable(f"{result.excluded_overlay_pct:.0f} % of the frame is burned-in text or marks: "
                               "too little scalp to measure", kind, scale, source, area_px, area_cm2, size)
    if result.shaft_level < MIN_SHAFT_LEVEL and result.hair_cover_pct < 50.0:
        return _not_measurable("no hair found: no dark shafts against skin (a bare or blank field, or hair too "
                               "light to see; dye light hair for a phototrichogram)",
                               kind, scale, source, area_px, area_cm2, size)
    if result.hair_cover_pct >= 90.0 or (result.shaft_level < MIN_SHAFT_LEVEL and not looks_long):
        return _not_measurable(f"hair covers {result.hair_cover_pct:.0f} % of the field: too little skin to "
                               "measure against", kind, scale, source, area_px, area_cm2, size)
    cover = result.hair_cover_pct
    if kind == "unclipped":
        # Long hair hides most roots under other hairs and makes one mesh of shafts: a count
        # from it is not a density (the renders: 3-4x the truth). What is reported is what
        # the photo supports: the share of the field under hair.
        flags.append(f"density: long hair ({_long_hair_evidence(result)}; hair covers {cover:.0f} % of the field): "
                     "roots under other hairs cannot be counted, so no count or density is given; clip the field "
                     "for a phototrichogram count")
        return PhotoMeasurement("trichoscopy", kind, True, None, scale, source, area_px, area_cm2, None, cover, (),
                                None, tuple(flags), size, result.mask)
    if looks_long:
        flags.append(f"density: long hair ({_long_hair_evidence(result)}, although --hair clipped was given): "
                     "roots under other hairs are not counted")
    rows = tuple(HairRow(h.root, h.direction_deg, h.length_um, h.width_um, h.unit, h.fine) for h in result.hairs)
    summary = summarise_hairs(np.array([h.width_um for h in rows]), np.array([h.unit for h in rows]), area_cm2,
                              rules.vellus_max_width_um)
    if result.excluded_overlay_pct > 0:
        flags.append(f"{result.excluded_overlay_pct:.1f} % of the frame is burned-in text or marks, left out of "
                     "the area")
    if result.shaft_level < LIGHT_HAIR_LEVEL:
        flags.append(f"density: light hair (the shafts are {100 * result.shaft_level:.0f} % darker than the skin, "
                     f"below {100 * LIGHT_HAIR_LEVEL:.0f} %): light hairs are missed or miscounted; dye light "
                     "hair for a phototrichogram")
    return PhotoMeasurement("trichoscopy", kind, True, None, scale, source, area_px, area_cm2, summary, cover, rows,
                            "detected", tuple(flags), size, result.mask)


def _long_hair_evidence(result) -> str:
    from pipelines.trichoscopy import CLIPPED_MAX_LENGTH_MM

    if not result.unclipped:
        return "--hair unclipped was given"
    if result.long_shafts >= 2:
        return (f"{result.long_shafts} shafts over {CLIPPED_MAX_LENGTH_MM:g} mm long, the longest "
                f"{result.longest_shaft_mm:.1f} mm, where clipped stubs are shorter")
    return f"{100 * result.long_hair_share:.0f} % of the hair is one mesh over {2 * CLIPPED_MAX_LENGTH_MM:g} mm"


def _not_measurable(reason: str, kind: str | None, scale: float, source: str, area_px: int, area_cm2: float,
                    size: tuple[int, int]) -> PhotoMeasurement:
    return PhotoMeasurement("trichoscopy", kind, False, reason, scale, source, area_px, area_cm2, None, None, (),
                            "detected", (reason,), size)


def _measure_global(rgb: np.ndarray, protocol: Protocol, scale: float | None, source: str | None, report,
                    size: tuple[int, int]) -> PhotoMeasurement:
    from photostation.calibrate import correct_linear
    from photostation.qa.pixels import to_linear
    from photostation.qa.region import scalp_region
    from pipelines.coverage import NO_STRANDS, UNSURE_SEPARATION, hair_coverage

    linear = to_linear(rgb)
    if report is not None and report.source != "none":
        linear = correct_linear(linear, ccm=report.ccm, flat_field=report.flat_field, tone_curve=report.tone_curve)
    region = scalp_region(linear, whole_frame=False, backdrop_texture_max=protocol.qa.region.backdrop_texture_max,
                          min_share_pct=protocol.qa.region.min_share_pct)
    area_px = int(region.mask.sum())
    area_cm2 = area_px * scale ** 2 / 100.0 if scale else None
    if not area_px:
        reason = "no scalp found in the frame"
        return PhotoMeasurement("global", None, False, reason, scale, source, 0, None, None, None, (), None,
                                (reason,), size)
    coverage = hair_coverage(linear, region.mask, skin_rules_from(protocol.compare))
    if not coverage.hair_evidence:
        return PhotoMeasurement("global", None, False, NO_STRANDS, scale, source, area_px, area_cm2, None, None, (),
                                None, (NO_STRANDS,), size)
    flags = [] if scale else ["no scale (no card, no station profile, no --mm-per-px): the area is in pixels only"]
    if coverage.fixed_rule == "separation":
        flags.append(f"coverage: {UNSURE_SEPARATION}")
    return PhotoMeasurement("global", None, True, None, scale, source, area_px, area_cm2, None, coverage.coverage_pct,
                            (), None, tuple(flags), size, coverage.skin_mask)


def measurement_overlay(rgb: np.ndarray, measurement: PhotoMeasurement) -> np.ndarray:
    """The photo with what was measured drawn on it: each hair from its root (a ring: yellow
    for a shaft, cyan for a fine hair) along its shaft; on a global view, the hair (not
    visible scalp) tinted."""
    import cv2

    out = np.ascontiguousarray(np.asarray(rgb, np.uint8).copy())
    h, w = out.shape[:2]
    if measurement.view == "global":
        if measurement.mask is not None:
            hair = ~measurement.mask
            out[hair] = (0.6 * out[hair] + 0.4 * np.array([255, 0, 255])).astype(np.uint8)
        return out
    thickness = max(1, round(max(h, w) / 800))
    radius = max(4, round(max(h, w) / 200))
    for hair in measurement.hairs:
        colour = (0, 255, 255) if hair.fine else (255, 230, 0)
        x, y = hair.root
        if hair.direction_deg is not None and hair.length_um and measurement.mm_per_px:
            length = hair.length_um / 1000.0 / measurement.mm_per_px
            a = np.deg2rad(hair.direction_deg)
            # The detector places the root a quarter along the shaft.
            p0 = (int(round(x - np.cos(a) * length / 4)), int(round(y - np.sin(a) * length / 4)))
            p1 = (int(round(x + np.cos(a) * 3 * length / 4)), int(round(y + np.sin(a) * 3 * length / 4)))
            cv2.line(out, p0, p1, colour, thickness, cv2.LINE_AA)
        cv2.circle(out, (int(round(x)), int(round(y))), radius, colour, thickness, cv2.LINE_AA)
    return out
