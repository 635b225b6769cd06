"""The month-6 comparison: register the follow-up to the baseline, measure both on the same
scalp (the common area), match hairs one-to-one, and estimate the change with a 95 %
interval, but only when the pair is comparable.

This is the library behind ``photostation compare``. Steps:

1. Both photos are read once; the photographer's checks run on the pair (angle, distance,
   exposure, colour, focus, light, timestamps). A failed blocking check makes the pair not
   comparable, with the reason in ``flags``.
2. Calibration before measurement: a card in the frame gives the colour correction and the
   scale; otherwise the station's profile (``--station``) on the capture date; ``--mm-per-px``
   sets the scale directly.
3. Registration (coarse, then refined) of the follow-up onto the baseline; an untrustworthy
   registration or too small an overlap makes the pair not comparable.
4. Trichoscopy: hairs are detected in each photo and counted by emergence point in the
   common area (clipped hair: at the follicle openings, by their size); the hairs seen are
   matched one-to-one, and the density change is (new - lost) / area, scaled by the
   baseline's count over its hairs seen (hairs lying exactly over others and, on long hair,
   hidden roots are counted from the image but cannot be matched).
   Global views: hair coverage of the common scalp area in each photo, and its change.
5. Tile bootstrap for the 95 % interval; the outcome against the protocol's threshold.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from photostation.calibrate import calibrate_image, correct_linear
from photostation.errors import InputError
from photostation.imaging import decode, read_bytes
from photostation.metadata import PhotoMetadata
from photostation.protocol import CompareRules, Protocol
from photostation.qa.checks import compare_shots, pair_image_checks
from photostation.qa.pixels import to_linear
from photostation.qa.region import scalp_region
from photostation.results import Check, plain
from photostation.shot import analyse, load_photo, pair_checks, view_kind
from photostation.stations import select_profile
from pipelines.change import ChangeEstimate, bootstrap_rate_change, bootstrap_share_change, outcome, tile_areas, \
    tile_index
from pipelines.coverage import SkinRules, hair_coverage
from pipelines.hairs import HairDetection, HairRules, detect_hairs, points_in
from pipelines.matching import HairMatching, match_hairs
from pipelines.registration import PairRegistration, register_pair

VIEWS = ("trichoscopy", "global")


@dataclass(frozen=True)
class SideMeasurement:
    """One photo's numbers over the common area."""

    hair_count: int | None
    density_per_cm2: float | None
    coverage_pct: float | None
    mean_shaft_width_um: float | None
    vellus_pct: float | None
    area_px: int
    area_cm2: float | None

    def to_json(self) -> dict[str, Any]:
        r = _finite
        return {"hair_count": self.hair_count, "density_per_cm2": r(self.density_per_cm2),
                "coverage_pct": r(self.coverage_pct), "mean_shaft_width_um": r(self.mean_shaft_width_um),
                "vellus_pct": r(self.vellus_pct), "area_px": self.area_px, "area_cm2": r(self.area_cm2, 5),
                "hairs_per_mpx": None if self.hair_count is None or not self.area_px
                else round(1e6 * self.hair_count / self.area_px, 2)}


@dataclass(frozen=True)
class Comparison:
    """Everything ``photostation compare`` reports; ``to_json()`` is the ``--json`` contract."""

    view: str
    registration: PairRegistration
    registration_original: np.ndarray | None
    """Follow-up -> baseline in the original photos' pixels."""
    baseline: SideMeasurement | None
    followup: SideMeasurement | None
    density_change: ChangeEstimate | None
    density_change_pct: float | None
    coverage_change: ChangeEstimate | None
    outcome: str | None
    comparable: bool
    flags: tuple[str, ...]
    checks: tuple[Check, ...]
    mm_per_px: float | None
    scale_source: str | None
    matching: HairMatching | None = None
    images: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Measurement images for the report files: baseline, followup, registered follow-up, masks."""
    detections: tuple[HairDetection | None, HairDetection | None] = field(default=(None, None), repr=False)
    hairs: tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]] = ((), ())
    """Per hair seen in the common area, each photo in its own file's pixels, with its match
    status (:func:`hair_entries`)."""

    def to_json(self) -> dict[str, Any]:
        reg = self.registration
        empty = {"hair_count": None, "density_per_cm2": None, "coverage_pct": None, "mean_shaft_width_um": None,
                 "vellus_pct": None}
        dc, cc = self.density_change, self.coverage_change
        change = {
            "density_per_cm2": _finite(dc.value) if dc else None,
            "density_pct": _finite(self.density_change_pct),
            "coverage_pct_points": _finite(cc.value) if cc else None,
            "ci95_density_per_cm2": [_finite(dc.ci95[0]), _finite(dc.ci95[1])] if dc else None,
            "ci95_coverage_pct_points": [_finite(cc.ci95[0]), _finite(cc.ci95[1])] if cc else None,
            "outcome": self.outcome,
            "matched": self.matching.matched_count if self.matching else None,
            "lost": self.matching.lost_count if self.matching else None,
            "new": self.matching.new_count if self.matching else None,
        }
        return {
            "registration": {
                "matrix": None if self.registration_original is None else
                np.round(self.registration_original, 8).tolist(),
                "inliers": reg.inliers, "residual_px": reg.residual_px, "overlap_pct": reg.overlap_pct,
            },
            "baseline": (self.baseline.to_json() if self.baseline else dict(empty)) | {"hairs": list(self.hairs[0])},
            "followup": (self.followup.to_json() if self.followup else dict(empty)) | {"hairs": list(self.hairs[1])},
            "change": change,
            "comparable": self.comparable,
            "flags": list(self.flags),
            "view": self.view,
            "scale": {"mm_per_px": None if self.mm_per_px is None else round(self.mm_per_px, 8),
                      "source": self.scale_source},
            "checks": [c.to_dict() for c in self.checks],
        }


def _finite(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _calibration(rgb: np.ndarray, meta: PhotoMetadata, protocol: Protocol, profile, close_up: bool
                 ) -> tuple[Any, list[str]]:
    report = calibrate_image(rgb, meta, protocol, flat_field=profile.flat_field if profile else None, profile=profile,
                             close_up=close_up)
    notes = []
    if report.source == "fitted":
        notes.append(f"colour corrected with the {report.card.type} card in the photo")
    elif report.source == "station_profile":
        notes.append("colour corrected with the station profile (no card in the photo)")
    return report, notes


def _measure_view(requested: str | None, path: Path, protocol: Protocol) -> str:
    if requested is not None:
        if requested not in VIEWS:
            raise InputError(f"--view must be one of {', '.join(VIEWS)}")
        return requested
    from photostation.archive import infer_from_path

    kind = view_kind(infer_from_path(path)[2], protocol)
    return "global" if kind == "global" else "trichoscopy"


def compare_pair(baseline: Path | str, followup: Path | str, protocol: Protocol, *, mm_per_px: float | None = None,
                 view: str | None = None, station: str | None = None, device: str | None = None,
                 factory: sessionmaker[Session] | None = None, now: dt.datetime | None = None,
                 hair_kind: str | None = None) -> Comparison:
    """Compare a follow-up photo with its baseline.

    Parameters
    ----------
    baseline, followup : Path or str
        The two photos of the same view or trichoscopy site.
    protocol : Protocol
    mm_per_px : float, optional
        Scale of the baseline photo (mm per pixel of the file); default: from a card in the
        frame or the station profile.
    view : {"trichoscopy", "global"}, optional
        Default: from the file name in the archive layout (``tricho-*`` = trichoscopy).
    station, device, factory
        The station profile (calibration, scale) is looked up in the ledger when given.
    now : datetime, optional
        For the timestamp rules.
    hair_kind : {"clipped", "unclipped"}, optional
        Default: detected from the image.

    Returns
    -------
    Comparison
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    baseline, followup = Path(baseline), Path(followup)
    kind = _measure_view(view, baseline, protocol)
    rules = protocol.compare
    flags: list[str] = []

    # 1. The photographer's checks on the pair.
    # Each file is read once: its bytes serve the checks' copy and the measurement copy.
    base_bytes, follow_bytes = read_bytes(baseline), read_bytes(followup)
    base_photo = load_photo(base_bytes, protocol, name=str(baseline))
    follow_photo = load_photo(follow_bytes, protocol, name=str(followup))
    for photo, label in ((base_photo, "baseline"), (follow_photo, "follow-up")):
        if photo.decode_error:
            raise InputError(f"{label}: {photo.decode_error}")
    qa_view = "tricho-site" if kind == "trichoscopy" else "vertex"
    base_qa = analyse(base_photo, protocol, qa_view, pair_only=True)
    follow_qa = analyse(follow_photo, protocol, qa_view)
    checks = pair_checks(follow_photo.metadata, base_photo.metadata, protocol, None)
    pair = None
    if base_qa is not None and follow_qa is not None:
        pair = compare_shots(follow_qa, base_qa, follow_photo.intrinsics_at(follow_qa.pixels.detail_size),
                             base_photo.intrinsics_at(base_qa.pixels.detail_size), protocol.qa)
        checks += pair_image_checks(pair, protocol.qa)
    blocking = [c for c in checks if c.status == "fail" and c.name.startswith(rules.blocking_checks)]
    for c in blocking:
        flags.append(f"{c.name}: {c.message}")
    for c in checks:
        if c.status == "warn" and c.name.startswith(rules.blocking_checks):
            flags.append(f"(warn) {c.name}: {c.message}")

    # 2. Calibration before measurement.
    base_rgb = decode(base_bytes, str(baseline), max_side=rules.measure_side_px)
    follow_rgb = decode(follow_bytes, str(followup), max_side=rules.measure_side_px)
    profile_b = profile_f = None
    if station and factory is not None:
        for meta, name in ((base_photo.metadata, "b"), (follow_photo.metadata, "f")):
            captured = meta.captured_datetime
            chosen = select_profile(factory, station, captured.date() if captured else now.date(), device)
            profile_b, profile_f = (chosen, profile_f) if name == "b" else (profile_b, chosen)
    close_up = kind == "trichoscopy"
    cal_b, notes_b = _calibration(base_rgb, base_photo.metadata, protocol, profile_b, close_up)
    cal_f, notes_f = _calibration(follow_rgb, follow_photo.metadata, protocol, profile_f, close_up)
    flags += [f"baseline {n}" for n in notes_b] + [f"follow-up {n}" for n in notes_f]
    if (cal_b.source == "none") != (cal_f.source == "none"):
        flags.append("only one photo could be colour corrected: colours are compared uncorrected")
    both_corrected = cal_b.source != "none" and cal_f.source != "none"
    base_lin = _corrected(base_rgb, cal_b if both_corrected else None)
    follow_lin = _corrected(follow_rgb, cal_f if both_corrected else None)

    # Scale of the measurement copy of the baseline.
    base_width = base_photo.metadata.width or base_rgb.shape[1]
    factor = base_rgb.shape[1] / base_width
    scale_source = None
    if mm_per_px is not None:
        if not (0 < mm_per_px < 10):
            raise InputError("--mm-per-px must be a positive number of millimetres per pixel")
        scale_source, base_scale = "--mm-per-px", mm_per_px
    elif cal_b.mm_per_px is not None:
        scale_source, base_scale = ("card" if cal_b.source == "fitted" else "station profile"), cal_b.mm_per_px
    else:
        base_scale = None
        flags.append("no scale (no card, no station profile, no --mm-per-px): densities are per pixel area only")
    work_scale = base_scale / factor if base_scale is not None else None

    # 3. Registration on the measurement copies.
    from photostation.qa.pixels import luminance

    # The shot checks have registered the pair already: their matrix, brought to these
    # copies' pixels, is the coarse step; the refinement runs here.
    coarse = None
    if pair is not None and pair.registration.ok and pair.matrix_original is not None:
        f_factor = follow_rgb.shape[1] / (follow_photo.metadata.width or follow_rgb.shape[1])
        matrix = np.diag([factor, factor, 1.0]) @ pair.matrix_original @ np.diag([1 / f_factor, 1 / f_factor, 1.0])
        coarse = replace(pair.registration, matrix=matrix / matrix[2, 2])
    reg = register_pair(luminance(follow_lin), luminance(base_lin), protocol.qa.registration,
                        refine_side=rules.refine_side_px, max_residual_px=rules.max_residual_px,
                        refine_features=rules.refine_max_features, coarse=coarse)
    comparable = not blocking
    if not reg.trustworthy:
        comparable = False
        flags.append(f"registration: {reg.reason}")
    elif reg.overlap_pct < rules.min_overlap_pct:
        comparable = False
        flags.append(f"registration: the photos overlap by only {reg.overlap_pct:.0f} % "
                     f"(minimum {rules.min_overlap_pct:g} %)")
    original = None
    if reg.matrix is not None:
        fw = follow_photo.metadata.width or follow_rgb.shape[1]
        f_factor = follow_rgb.shape[1] / fw
        original = np.diag([1 / factor, 1 / factor, 1.0]) @ reg.matrix @ np.diag([f_factor, f_factor, 1.0])
        original /= original[2, 2]
    if reg.matrix is None:
        return Comparison(kind, reg, None, None, None, None, None, None, None, False, tuple(flags), tuple(checks),
                          work_scale, scale_source)

    h, w = base_lin.shape[:2]
    warped = cv2.warpPerspective(follow_lin, reg.matrix, (w, h), flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.ones(follow_lin.shape[:2], np.uint8), reg.matrix, (w, h),
                                 flags=cv2.INTER_NEAREST).astype(bool)
    inside = cv2.erode(inside.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    images = {"baseline": base_lin, "followup": follow_lin, "registered_followup": warped, "common": inside}
    tiles = rules.bootstrap_tiles

    if kind == "global":
        skin_rules = skin_rules_from(rules)
        region_b = scalp_region(base_lin, whole_frame=False, backdrop_texture_max=protocol.qa.region.backdrop_texture_max,
                                min_share_pct=protocol.qa.region.min_share_pct).mask
        region_f = scalp_region(follow_lin, whole_frame=False,
                                backdrop_texture_max=protocol.qa.region.backdrop_texture_max,
                                min_share_pct=protocol.qa.region.min_share_pct).mask
        region_f_in_b = cv2.warpPerspective(region_f.astype(np.uint8), reg.matrix, (w, h),
                                            flags=cv2.INTER_NEAREST).astype(bool)
        common = inside & region_b & region_f_in_b
        cov_b = hair_coverage(base_lin, common, skin_rules)
        cov_f = hair_coverage(warped, common, skin_rules)
        area_px = int(common.sum())
        area_cm2 = area_px * work_scale ** 2 / 100.0 if work_scale else None
        base_side = SideMeasurement(None, None, cov_b.coverage_pct, None, None, area_px, area_cm2)
        follow_side = SideMeasurement(None, None, cov_f.coverage_pct, None, None, area_px, area_cm2)
        areas = tile_areas(common, tiles)
        hair_b = tile_areas(common & ~cov_b.skin_mask, tiles)
        hair_f = tile_areas(common & ~cov_f.skin_mask, tiles)
        cov_change = bootstrap_share_change(hair_f, hair_b, areas, resamples=rules.bootstrap_resamples, seed=0)
        result_outcome = outcome(cov_change, rules.coverage_change_threshold_pts) if comparable else None
        images |= {"skin_baseline": cov_b.skin_mask, "skin_followup": cov_f.skin_mask, "common": common}
        return Comparison(kind, reg, original, base_side, follow_side, None, None,
                          cov_change if comparable else None, result_outcome, comparable, tuple(flags), tuple(checks),
                          work_scale, scale_source, None, images)

    # 4. Trichoscopy: hairs in each photo, in the common area, matched one-to-one.
    clipped = None if hair_kind is None else hair_kind == "clipped"
    shaft = rules.terminal_width_um / 1000.0 / work_scale if work_scale else None
    hair_rules = hair_rules_from(rules)
    det_b = detect_hairs(base_lin, shaft_width_px=shaft, clipped=clipped, rules=hair_rules)
    follow_shaft = shaft
    magnification = _magnification(reg.matrix, follow_lin.shape)
    if shaft is not None:
        follow_shaft = shaft / magnification
    det_f = detect_hairs(follow_lin, shaft_width_px=follow_shaft, clipped=clipped, rules=hair_rules)
    roots_f = _map(det_f.roots_px, reg.matrix)
    ends_f = _map(det_f.ends_px, reg.matrix)
    in_b = det_b.in_region(inside)
    in_f = points_in(roots_f, inside)
    follow_mask_in_base = cv2.warpPerspective(det_f.hair_mask.astype(np.uint8), reg.matrix, (w, h),
                                              flags=cv2.INTER_NEAREST).astype(bool)
    gate = rules.match_gate_widths * det_b.shaft_width_px
    # Matched on the hairs seen: those the unit-size prior adds (hairs lying exactly over
    # each other) are placed in each photo independently, and would only add false changes.
    matching = match_hairs(det_b.roots_px[in_b], det_b.ends_px[in_b], det_b.seen[in_b], roots_f[in_f],
                           ends_f[in_f], det_f.seen[in_f], gate_px=gate, base_mask=det_b.hair_mask,
                           follow_mask_in_base=follow_mask_in_base)
    area_px = int(inside.sum())
    area_cm2 = area_px * work_scale ** 2 / 100.0 if work_scale else None
    # Long hair: hairs whose roots lie hidden under other hairs are an expected number over
    # the whole frame (``hidden_count``); the common area gets its share by area.
    hidden_b = det_b.hidden_count * area_px / float(h * w)
    follow_h, follow_w = follow_lin.shape[:2]
    hidden_f = det_f.hidden_count * min(1.0, area_px / magnification ** 2 / float(follow_h * follow_w))
    counted_b = _counted(det_b, None, inside)
    counted_f = _counted(det_f, reg.matrix, inside)
    base_side = _side(det_b, in_b, det_b.width_px, det_b.hair_mask, inside, area_px, area_cm2, work_scale,
                      rules.vellus_max_width_um, counted_b + hidden_b)
    follow_side = _side(det_f, in_f, det_f.width_px * magnification, follow_mask_in_base, inside, area_px, area_cm2,
                        work_scale, rules.vellus_max_width_um, counted_f + hidden_f)
    flags += density_flags((det_b.shaft_darkness, det_f.shaft_darkness), (det_b.white_hair_pct, det_f.white_hair_pct),
                           (_share(hidden_b, counted_b), _share(hidden_f, counted_f)), rules)
    per_cm2 = 100.0 / work_scale ** 2 if work_scale else 1e6  # without a scale: per megapixel
    tile_b = tile_index(matching.base_roots, (h, w), tiles)
    tile_f = tile_index(matching.follow_roots, (h, w), tiles)
    lost = np.bincount(tile_b, weights=matching.lost, minlength=tiles * tiles)
    new = np.bincount(tile_f, weights=matching.new, minlength=tiles * tiles)
    # Matched hairs are the seen ones; they stand for all hairs counted (those the prior adds
    # to units, and on long hair the roots hidden under other hairs).
    seen_b = float(det_b.seen[in_b].sum())
    represents = (counted_b + hidden_b) / seen_b if seen_b else 1.0
    change = bootstrap_rate_change(new, lost, tile_areas(inside, tiles), scale=per_cm2 * represents,
                                   resamples=rules.bootstrap_resamples, seed=0)
    base_rate = base_side.hair_count / area_px * per_cm2 if area_px else float("nan")
    change_pct = 100.0 * change.value / base_rate if base_rate else float("nan")
    threshold = rules.density_change_threshold_per_cm2 if work_scale else float("inf")
    result_outcome = outcome(change, threshold) if comparable and work_scale else None
    if comparable and not work_scale:
        flags.append("no outcome without a scale: the change threshold is in hairs per cm2")
    images |= {"hair_mask_baseline": det_b.hair_mask, "hair_mask_followup": follow_mask_in_base}
    f_factor = follow_rgb.shape[1] / (follow_photo.metadata.width or follow_rgb.shape[1])
    follow_scale = work_scale * magnification if work_scale else None
    hairs = (hair_entries(det_b, in_b, matching.matched, "lost", factor, work_scale),
             hair_entries(det_f, in_f, matching.new, "new", f_factor, follow_scale))
    return Comparison(kind, reg, original, base_side, follow_side, change if comparable and work_scale else None,
                      change_pct if comparable else None, None, result_outcome, comparable, tuple(flags),
                      tuple(checks), work_scale, scale_source, matching, images, (det_b, det_f), hairs)


def hair_entries(det: HairDetection, selected: np.ndarray, counts: np.ndarray, unpaired: str, factor: float,
                 mm_per_px: float | None) -> tuple[dict[str, Any], ...]:
    """One entry per hair seen in the common area, in the form ``photostation measure`` uses.

    Parameters
    ----------
    det : HairDetection
        One photo's detections (pixels of its measurement copy).
    selected : numpy.ndarray
        Bool per detection: in the common area (the order the matching used).
    counts : numpy.ndarray
        Per selected detection: baseline, its hairs found again (``HairMatching.matched``);
        follow-up, its new hairs (``HairMatching.new``).
    unpaired : {"lost", "new"}
        Status of a baseline hair not found again, or of a new follow-up hair.
    factor : float
        Measurement copy's pixels per file pixel.
    mm_per_px : float, optional
        Scale of the measurement copy (None: no lengths or widths in um).

    Returns
    -------
    tuple of dict
        ``root`` [x, y] in the file's pixels, ``direction_deg``, ``length_um``, ``width_um``,
        ``unit``, ``fine`` and ``status``: ``matched``, ``lost`` (baseline) or ``new``
        (follow-up). A detection standing for k hairs gives k entries. Hairs the detector
        adds without seeing them (a unit's hairs lying exactly over each other, roots hidden
        under long hair, openings' expected hairs) are in ``hair_count`` but not here.
    """
    seen = det.seen
    out: list[dict[str, Any]] = []
    for j, i in enumerate(np.flatnonzero(selected)):
        root, end = det.roots_px[i], det.ends_px[i]
        direction = float(np.degrees(np.arctan2(end[1] - root[1], end[0] - root[0])) % 360.0)
        um = mm_per_px * 1000.0 if mm_per_px else None
        width = float(det.width_px[i]) * um if um and np.isfinite(det.width_px[i]) else None
        length = float(det.length_px[i]) * um if um and np.isfinite(det.length_px[i]) else None
        k = int(counts[j])
        for n in range(int(seen[i])):
            if unpaired == "lost":
                status = "matched" if n < k else "lost"
            else:
                status = "new" if n < k else "matched"
            out.append({"root": [round(float(root[0]) / factor, 1), round(float(root[1]) / factor, 1)],
                        "direction_deg": round(direction, 1),
                        "length_um": None if length is None else round(length, 1),
                        "width_um": None if width is None else round(width, 1),
                        "unit": None if det.unit is None else int(det.unit[i]),
                        "fine": bool(det.fine[i]) if det.fine is not None else False,
                        "status": status})
    return tuple(out)


def hair_rules_from(rules: CompareRules) -> HairRules:
    """The hair detector's parameters from the protocol (``[density]`` and ``[density.detector]``).

    Raises
    ------
    InputError
        A ``[density.detector]`` name the detector does not know.
    """
    known = {f.name for f in fields(HairRules)}
    unknown = sorted(name for name, _ in rules.hair_detector if name not in known)
    if unknown:
        raise InputError(f"protocol: unknown 'density.detector' setting(s): {', '.join(unknown)}")
    return HairRules(terminal_width_um=rules.terminal_width_um, **dict(rules.hair_detector))


def skin_rules_from(rules: CompareRules) -> SkinRules:
    """The visible-scalp rules of global views from the protocol's ``[coverage]``."""
    return SkinRules(rules.skin_min_a, rules.skin_min_hue_ratio, rules.skin_max_hue_ratio, rules.skin_min_lightness,
                     rules.skin_boundary_position, rules.skin_seed_erosion_px, rules.skin_min_seed_share,
                     rules.skin_min_separation)


def _corrected(rgb: np.ndarray, report) -> np.ndarray:
    linear = to_linear(rgb)
    if report is None:
        return linear
    return correct_linear(linear, ccm=report.ccm, flat_field=report.flat_field)


def _magnification(matrix: np.ndarray, shape: tuple[int, ...]) -> float:
    from photostation.qa.registration import jacobian

    h, w = shape[:2]
    return float(np.sqrt(abs(np.linalg.det(jacobian(matrix, ((w - 1) / 2, (h - 1) / 2))))))


def _map(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return np.zeros((0, 2))
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), matrix).reshape(-1, 2)


def density_flags(shaft_darkness: tuple[float, float], white_hair_pct: tuple[float, float],
                  estimated_pct: tuple[float, float], rules: CompareRules) -> list[str]:
    """Flags (``density: ...``) for densities that are reported but unreliable.

    Parameters
    ----------
    shaft_darkness : tuple of float
        Baseline's and follow-up's :attr:`HairDetection.shaft_darkness`.
    white_hair_pct : tuple of float
        Baseline's and follow-up's :attr:`HairDetection.white_hair_pct`.
    estimated_pct : tuple of float
        Baseline's and follow-up's share (%) of the hair count that is an estimate of hidden
        roots rather than roots seen (long hair).
    rules : CompareRules
        ``min_shaft_darkness``, ``max_white_hair_pct`` and ``max_estimated_share_pct`` from
        ``[density]``.

    Returns
    -------
    list of str
        Light and grey hair are counted poorly (known failures of automatic counting;
        phototrichogram protocols dye such hair), and so is long hair whose roots lie mostly
        under other hairs.
    """
    def offending(values: tuple[float, float], bad, worst) -> tuple[str, float] | None:
        """Which photos fail, and the worst of their values; None when neither does."""
        hit = tuple(bool(bad(v)) for v in values)
        if not any(hit):
            return None
        where = "both photos" if all(hit) else ("baseline" if hit[0] else "follow-up")
        return where, worst(v for v, h in zip(values, hit) if h)

    flags = []
    light = offending(shaft_darkness, lambda d: d < rules.min_shaft_darkness, min)
    if light:
        flags.append(f"density: light hair ({light[0]}: the shafts are {100 * light[1]:.0f} % darker than the skin, "
                     f"below {100 * rules.min_shaft_darkness:.0f} %): the count is unreliable; dye light hair "
                     "for a phototrichogram")
    white = offending(white_hair_pct, lambda p: p > rules.max_white_hair_pct, max)
    if white:
        flags.append(f"density: grey hair ({white[0]}: white shafts cover {white[1]:.1f} % of the field, "
                     f"above {rules.max_white_hair_pct:.1f} %): the count is unreliable; dye grey hair "
                     "for a phototrichogram")
    hidden = offending(estimated_pct, lambda p: p > rules.max_estimated_share_pct, max)
    if hidden:
        flags.append(f"density: long hair ({hidden[0]}: {hidden[1]:.0f} % of the count is an estimate of roots hidden "
                     f"under other hairs, above {rules.max_estimated_share_pct:.0f} %): clip the field for a "
                     "phototrichogram count")
    return flags


def _share(hidden: float, counted: float) -> float:
    """Share (%) of a count (``counted`` detections plus ``hidden`` hairs) that is hidden hairs."""
    total = hidden + counted
    return 100.0 * hidden / total if total > 0 else 0.0


def _counted(det: HairDetection, to_base: np.ndarray | None, area: np.ndarray) -> float:
    """Hairs counted with their emergence point in the area (baseline pixels), hidden ones
    aside: at the openings found, or the detections' multiplicities (``to_base`` maps the
    follow-up's pixels into the baseline)."""
    points, hairs = det.counted_weights()
    if to_base is not None:
        points = _map(points, to_base)
    return float(hairs[points_in(points, area)].sum())


def _side(det: HairDetection, selected: np.ndarray, widths_px: np.ndarray, hair_mask: np.ndarray, area: np.ndarray,
          area_px: int, area_cm2: float | None, mm_per_px: float | None, vellus_um: float,
          hairs: float) -> SideMeasurement:
    count = int(round(hairs))
    coverage = 100.0 * float((hair_mask & area).sum()) / area_px if area_px else None
    width_um = vellus = None
    widths = np.repeat(widths_px[selected], det.multiplicity[selected])
    widths = widths[np.isfinite(widths)]  # unmeasurable shafts (at the frame's edge) carry no width
    if mm_per_px and widths.size:
        widths = widths * mm_per_px * 1000.0
        width_um = float(widths.mean())
        vellus = 100.0 * float((widths < vellus_um).mean())
    density = count / area_cm2 if area_cm2 else None
    return SideMeasurement(count, density, coverage, width_um, vellus, area_px, area_cm2)


def as_plain(data: dict[str, Any]) -> dict[str, Any]:
    return plain(data)
