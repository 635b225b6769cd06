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
4. Trichoscopy: the hairs of each photo in the common area, by the detector of
   ``photostation measure`` (:mod:`pipelines.hair_pair`), matched one-to-one; the density
   change is (new - lost) / area. Long (unclipped) hair gets no count and no density
   change, as in ``measure``: the hair-covered share of the field and its change instead.
   Global views: hair coverage of the common scalp area in each photo, and its change.
5. Tile bootstrap for the 95 % interval, at least as wide as the detector's typical
   relative error of a count applied to the change; the outcome against the protocol's
   threshold.
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
from pipelines.coverage import (BOUNDARY_SPREAD, NO_STRANDS, UNSURE_SEPARATION, Coverage, SkinRules, choose_balance,
                                grey_world_gains, hair_coverage, skin_at)
from pipelines.hair_pair import COUNT_RELATIVE_ERROR, match_pair_hairs
from pipelines.matching import HairMatching
from pipelines.registration import PairRegistration, register_pair
from pipelines.trichoscopy import LIGHT_HAIR_LEVEL, HairCount, hair_cover_mask

VIEWS = ("trichoscopy", "global")
MIN_SIDE_PX = 32
"""A photo at least this many pixels a side can be registered and measured."""


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
    detections: tuple[HairCount | None, HairCount | None] = field(default=(None, None), repr=False)
    """Each photo's hairs (:func:`pipelines.trichoscopy.count_hairs`) over the common area."""
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
                "on_skin": reg.on_skin,
                "tiles_confirming": reg.alignment.tiles if reg.alignment else None,
                "tile_shift_px": reg.alignment.median_shift_px if reg.alignment else None,
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
                 hair_kind: str | None = None, fallback_mm_per_px: float | None = None) -> Comparison:
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
    fallback_mm_per_px : float, optional
        Scale when neither ``mm_per_px``, a card nor the station profile gives one (the
        protocol's ``[audit]`` scale); its source is reported as ``protocol``.

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
                             base_photo.intrinsics_at(base_qa.pixels.detail_size), protocol.qa,
                             skin_only=kind != "global")
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
    for rgb, which in ((base_rgb, "baseline"), (follow_rgb, "follow-up")):
        if min(rgb.shape[:2]) < MIN_SIDE_PX:  # a single row grew to gigabytes in registration
            raise InputError(f"the {which} photo is {rgb.shape[1]} x {rgb.shape[0]} pixels: too small to compare "
                             f"(at least {MIN_SIDE_PX} pixels a side)")
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
        scale_source, base_scale = "--mm-per-px", protocol.scale.check(kind, mm_per_px)
    elif cal_b.mm_per_px is not None:
        scale_source, base_scale = ("card" if cal_b.source == "fitted" else "station profile"), cal_b.mm_per_px
    elif fallback_mm_per_px:
        scale_source, base_scale = "protocol", fallback_mm_per_px
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
                        refine_features=rules.refine_max_features, coarse=coarse, skin_only=kind != "global")
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
        # One seeding for both photos: a different choice per photo would read as a change.
        gains = grey_world_gains([base_lin, warped], common)
        balance = choose_balance([base_lin, warped], common, skin_rules, gains)
        cov_b = hair_coverage(base_lin, common, skin_rules, balance, gains)
        cov_f = hair_coverage(warped, common, skin_rules, balance, gains)
        for side, cov in (("baseline", cov_b), ("follow-up", cov_f)):
            if not cov.hair_evidence:
                flags.append(f"coverage: {side}: {NO_STRANDS}")
                comparable = False
        area_px = int(common.sum())
        area_cm2 = area_px * work_scale ** 2 / 100.0 if work_scale else None
        # No figure where the region shows no hair at all (it would read as fully covered).
        base_side = SideMeasurement(None, None, cov_b.coverage_pct if cov_b.hair_evidence else None, None, None,
                                    area_px, area_cm2)
        follow_side = SideMeasurement(None, None, cov_f.coverage_pct if cov_f.hair_evidence else None, None, None,
                                      area_px, area_cm2)
        areas = tile_areas(common, tiles)
        hair_b = tile_areas(common & ~cov_b.skin_mask, tiles)
        hair_f = tile_areas(common & ~cov_f.skin_mask, tiles)
        cov_change = bootstrap_share_change(hair_f, hair_b, areas, resamples=rules.bootstrap_resamples, seed=0)
        # The tiles' spread is not the only uncertainty: the change also depends on where the
        # skin/hair boundary lies, and where the per-photo model could not be used at all the
        # figure is unsure (flagged).
        sensitivity = boundary_sensitivity_pts(cov_b, cov_f, common, skin_rules.boundary_position)
        if balance:
            # The balanced seeding moves each photo's level closer to the truth, but the change
            # is then read by a model fitted on colours the gains have moved: the interval
            # also spans the change the photos' own seeding gives (on the renders, brown and
            # auburn pairs differed by up to 8 points between the two).
            own_b = hair_coverage(base_lin, common, skin_rules, False)
            own_f = hair_coverage(warped, common, skin_rules, False)
            sensitivity += abs((cov_f.coverage_pct - cov_b.coverage_pct) - (own_f.coverage_pct - own_b.coverage_pct))
        if sensitivity:
            low, high = cov_change.ci95
            cov_change = replace(cov_change, ci95=(low - sensitivity, high + sensitivity))
        unsure = [side for side, cov in (("baseline", cov_b), ("follow-up", cov_f)) if cov.fixed_rule == "separation"]
        for side in unsure:
            flags.append(f"coverage: {side}: {UNSURE_SEPARATION}; no outcome is given")
        # An unsure figure gives no verdict (on the renders such pairs were off by up to 12 points).
        result_outcome = outcome(cov_change, rules.coverage_change_threshold_pts) if comparable and not unsure else None
        threshold = rules.coverage_change_threshold_pts
        if result_outcome is not None and cov_change.ci95[0] < -threshold and cov_change.ci95[1] > threshold:
            # "stable" would claim what the interval does not show: it allows a gain and a loss.
            flags.append(f"coverage: the change's interval ({cov_change.ci95[0]:+.1f} to {cov_change.ci95[1]:+.1f} "
                         f"points) reaches beyond -{threshold:g} and +{threshold:g}: inconclusive, no outcome is given")
            result_outcome = None
        images |= {"skin_baseline": cov_b.skin_mask, "skin_followup": cov_f.skin_mask, "common": common}
        return Comparison(kind, reg, original, base_side, follow_side, None, None,
                          cov_change if comparable else None, result_outcome, comparable, tuple(flags), tuple(checks),
                          work_scale, scale_source, None, images)

    # 4. Trichoscopy: hairs in each photo, in the common area, matched one-to-one, by the
    # detector of ``photostation measure`` on the photos as decoded (the same numbers as
    # measuring each photo alone, over the common area).
    if not work_scale:
        flags.append("no hair count without a scale: the detector works at a known size of a hair (give "
                     "--mm-per-px, a card or a station profile)")
        return Comparison(kind, reg, original, None, None, None, None, None, None, comparable, tuple(flags),
                          tuple(checks), work_scale, scale_source, None, images)
    if not 0.001 <= work_scale <= 0.02:
        flags.append(f"no hair count: the close-up's scale, {1000 * work_scale:g} um per pixel as measured, is "
                     "outside 1-20 um per pixel")
        return Comparison(kind, reg, original, None, None, None, None, None, None, comparable, tuple(flags),
                          tuple(checks), work_scale, scale_source, None, images)
    hairs = match_pair_hairs(base_rgb, follow_rgb, reg.matrix, inside, work_scale, gate_widths=rules.match_gate_widths)
    det_b, det_f = hairs.baseline, hairs.followup
    matching = hairs.matching
    area_px = int(inside.sum())
    area_cm2 = area_px * work_scale ** 2 / 100.0
    long_hair = hair_kind == "unclipped" or (hair_kind is None and (det_b.unclipped or det_f.unclipped))
    follow_scale = work_scale * hairs.magnification
    if long_hair:
        # Long hair: no count, so no density change (as ``measure``); the hair-covered share
        # of the field is what the photos support (the shaft mask's skin level is wrong
        # where hair covers most of the field: the top-hat rule is not).
        mask_b = hair_cover_mask(base_rgb, work_scale)
        mask_f = cv2.warpPerspective(hair_cover_mask(follow_rgb, follow_scale).astype(np.uint8), reg.matrix, (w, h),
                                     flags=cv2.INTER_NEAREST).astype(bool)
    else:
        mask_b, mask_f = det_b.mask, hairs.followup_mask_in_baseline
    base_side = _side(det_b, hairs.baseline_in, mask_b, inside, area_cm2, rules.vellus_max_width_um, long_hair)
    follow_side = _side(det_f, hairs.followup_in, mask_f, inside, area_cm2, rules.vellus_max_width_um, long_hair)
    flags += pair_density_flags(det_b, det_f, long_hair, hair_kind)
    images |= {"hair_mask_baseline": mask_b, "hair_mask_followup": mask_f}
    f_factor = follow_rgb.shape[1] / (follow_photo.metadata.width or follow_rgb.shape[1])
    entries = (hair_entries(det_b, hairs.baseline_in, matching.matched, "lost", factor),
               hair_entries(det_f, hairs.followup_in, matching.new, "new", f_factor))
    if long_hair:
        areas = tile_areas(inside, tiles)
        cov_change = bootstrap_share_change(tile_areas(inside & mask_f, tiles), tile_areas(inside & mask_b, tiles),
                                            areas, resamples=rules.bootstrap_resamples, seed=0)
        return Comparison(kind, reg, original, base_side, follow_side, None, None,
                          cov_change if comparable else None, None, comparable, tuple(flags), tuple(checks),
                          work_scale, scale_source, matching, images, (det_b, det_f), entries)
    per_cm2 = 100.0 / work_scale ** 2
    tile_b = tile_index(matching.base_roots, (h, w), tiles)
    tile_f = tile_index(matching.follow_roots, (h, w), tiles)
    lost = np.bincount(tile_b, weights=matching.lost, minlength=tiles * tiles)
    new = np.bincount(tile_f, weights=matching.new, minlength=tiles * tiles)
    change = bootstrap_rate_change(new, lost, tile_areas(inside, tiles), scale=per_cm2,
                                   resamples=rules.bootstrap_resamples, seed=0)
    # The detector misses or adds a share of the hairs in both photos: a true change is seen
    # scaled by that share, which the resampling of tiles cannot show.
    spread = COUNT_RELATIVE_ERROR * abs(change.value)
    change = replace(change, ci95=(min(change.ci95[0], change.value - spread), max(change.ci95[1], change.value + spread)))
    base_rate = base_side.hair_count / area_cm2 if area_cm2 else float("nan")
    change_pct = 100.0 * change.value / base_rate if base_rate else float("nan")
    result_outcome = outcome(change, rules.density_change_threshold_per_cm2) if comparable else None
    return Comparison(kind, reg, original, base_side, follow_side, change if comparable else None,
                      change_pct if comparable else None, None, result_outcome, comparable, tuple(flags),
                      tuple(checks), work_scale, scale_source, matching, images, (det_b, det_f), entries)


def hair_entries(count: HairCount, selected: np.ndarray, status_counts: np.ndarray, unpaired: str, factor: float
                 ) -> tuple[dict[str, Any], ...]:
    """One entry per hair in the common area, in the form ``photostation measure`` uses.

    Parameters
    ----------
    count : HairCount
        One photo's hairs (pixels of its measurement copy).
    selected : numpy.ndarray
        Bool per hair: in the common area (the order the matching used).
    status_counts : numpy.ndarray
        Per selected hair: baseline, 1 when found again (``HairMatching.matched``);
        follow-up, 1 when new (``HairMatching.new``).
    unpaired : {"lost", "new"}
        Status of a baseline hair not found again, or of a new follow-up hair.
    factor : float
        Measurement copy's pixels per file pixel.

    Returns
    -------
    tuple of dict
        ``root`` [x, y] in the file's pixels, ``direction_deg``, ``length_um``,
        ``width_um``, ``unit``, ``fine`` and ``status``: ``matched``, ``lost`` (baseline)
        or ``new`` (follow-up).
    """
    out: list[dict[str, Any]] = []
    for j, i in enumerate(np.flatnonzero(selected)):
        hair = count.hairs[i]
        hit = int(status_counts[j]) > 0
        if unpaired == "lost":
            status = "matched" if hit else "lost"
        else:
            status = "new" if hit else "matched"
        out.append({"root": [round(hair.root[0] / factor, 1), round(hair.root[1] / factor, 1)],
                    "direction_deg": round(hair.direction_deg, 1),
                    "length_um": _finite(hair.length_um, 1), "width_um": _finite(hair.width_um, 1),
                    "unit": int(hair.unit), "fine": bool(hair.fine), "status": status})
    return tuple(out)


def skin_rules_from(rules: CompareRules) -> SkinRules:
    """The visible-scalp rules of global views from the protocol's ``[coverage]``."""
    return SkinRules(rules.skin_min_a, rules.skin_min_hue_ratio, rules.skin_max_hue_ratio, rules.skin_min_lightness,
                     rules.skin_boundary_position, rules.skin_seed_erosion_px, rules.skin_min_seed_share,
                     rules.skin_min_separation)


def boundary_sensitivity_pts(base: Coverage, follow: Coverage, area: np.ndarray, boundary: float) -> float:
    """How much the coverage change (points) moves when the skin/hair boundary of both photos
    moves by :data:`pipelines.coverage.BOUNDARY_SPREAD` either way; 0 when either photo was
    classified by the fixed rule (no boundary to move). ``area``: the common area, in the
    pixels of both masks."""
    if base.position is None or follow.position is None or not area.any():
        return 0.0
    n = float(area.sum())

    def change(at: float) -> float:
        return 100.0 * float((skin_at(base.position, at) & area).sum() - (skin_at(follow.position, at) & area).sum()) / n

    centre = change(boundary)
    return round(max(abs(change(boundary - BOUNDARY_SPREAD) - centre), abs(change(boundary + BOUNDARY_SPREAD) - centre)), 3)


def _corrected(rgb: np.ndarray, report) -> np.ndarray:
    linear = to_linear(rgb)
    if report is None:
        return linear
    return correct_linear(linear, ccm=report.ccm, flat_field=report.flat_field, tone_curve=report.tone_curve)


def pair_density_flags(baseline: HairCount, followup: HairCount, long_hair: bool, hair_kind: str | None
                       ) -> list[str]:
    """Flags (``density: ...``) for hair counts of a pair that are not given or unreliable.

    Parameters
    ----------
    baseline, followup : HairCount
        Each photo's hairs (:func:`pipelines.trichoscopy.count_hairs`).
    long_hair : bool
        The pair is treated as long (unclipped) hair: no count is given.
    hair_kind : {"clipped", "unclipped"} or None
        As the user gave it.

    Returns
    -------
    list of str
        Long hair hides most roots under other hairs (no count); light hair is counted
        poorly (phototrichogram protocols dye it). The limit of light hair belongs to the
        detector (``pipelines.trichoscopy.LIGHT_HAIR_LEVEL``).
    """
    def where(hit: tuple[bool, bool]) -> str:
        return "both photos" if all(hit) else ("baseline" if hit[0] else "follow-up")

    flags = []
    looks_long = (baseline.unclipped, followup.unclipped)
    if long_hair:
        why = "--hair unclipped was given" if hair_kind == "unclipped" else \
            f"{where(looks_long)}: shafts longer than clipped stubs"
        flags.append(f"density: long hair ({why}): roots under other hairs cannot be counted, so no count, density "
                     "or density change is given; clip the field for a phototrichogram count")
    elif any(looks_long):
        flags.append(f"density: long hair ({where(looks_long)}: shafts longer than clipped stubs, although --hair "
                     "clipped was given): roots under other hairs are not counted")
    levels = (baseline.shaft_level, followup.shaft_level)
    light = tuple(level < LIGHT_HAIR_LEVEL for level in levels)
    if any(light) and not long_hair:
        worst = min(level for level, hit in zip(levels, light) if hit)
        flags.append(f"density: light hair ({where(light)}: the shafts are {100 * worst:.0f} % darker than the "
                     f"skin, below {100 * LIGHT_HAIR_LEVEL:.0f} %): the count is unreliable; dye light hair "
                     "for a phototrichogram")
    return flags


def _side(count: HairCount, selected: np.ndarray, hair_mask: np.ndarray, area: np.ndarray, area_cm2: float,
          vellus_um: float, long_hair: bool) -> SideMeasurement:
    area_px = int(area.sum())
    coverage = 100.0 * float((hair_mask & area).sum()) / area_px if area_px else None
    if long_hair:
        return SideMeasurement(None, None, coverage, None, None, area_px, area_cm2)
    hairs = [hair for hair, inside in zip(count.hairs, selected) if inside]
    widths = np.array([hair.width_um for hair in hairs], float)
    widths = widths[np.isfinite(widths)]
    width_um = float(widths.mean()) if widths.size else None
    vellus = 100.0 * float((widths < vellus_um).mean()) if widths.size else None
    density = len(hairs) / area_cm2 if area_cm2 else None
    return SideMeasurement(len(hairs), density, coverage, width_um, vellus, area_px, area_cm2)


def as_plain(data: dict[str, Any]) -> dict[str, Any]:
    return plain(data)
