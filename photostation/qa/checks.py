"""The image checks of ``photostation check``: measurements turned into protocol checks, for
one shot and for a shot against its baseline. Every limit comes from the protocol's ``[qa]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from photostation.protocol import QaRules
from photostation.qa.colour_balance import (WhiteBalance, balance_of_light, estimate_white_balance, white_balance_shift,
                                            white_balance_shift_unregistered)
from photostation.qa.exposure import (ExposureStats, exposure_difference_ev, exposure_difference_unregistered,
                                      measure_exposure)
from photostation.qa.focus import Focus, focus_ratio, measure_focus
from photostation.qa.glare import glare_share_pct
from photostation.qa.illumination import IlluminationField, direction_words, fit_field
from photostation.qa.pixels import ShotPixels, luminance, resize_to
from photostation.qa.pose import Intrinsics, NoPhysicalPose, PoseChange, decompose
from photostation.qa.region import ScalpRegion, scalp_region
from photostation.qa.registration import Registration, feature_grey, register
from photostation.qa.skin_view import skin_view
from photostation.results import Check, grade

# Pair comparisons (exposure, colour, light) run on small registered copies: they measure
# smooth quantities, and warping large images would cost more than the whole check.
_COMPARE_SIDE = 480


@dataclass(frozen=True)
class CardGreys:
    """The grey patches of a calibration card in the shot (a neutral, known reference)."""

    card_type: str
    indices: tuple[int, ...]
    measured: np.ndarray
    """``(k, 3)`` linear RGB of the usable grey patches."""
    reference: np.ndarray
    """``(k, 3)`` their reference linear RGB."""
    outline: np.ndarray
    """``(4, 2)`` card corners in the measuring copy's pixels (excluded from the scalp region)."""

    def light_colour(self) -> np.ndarray:
        """Colour of the light: the greys' measured/reference ratio, averaged."""
        return np.mean(self.measured / self.reference, axis=0)


@dataclass(frozen=True)
class ShotAnalysis:
    """Every single-shot measurement of one photo (kept for the pair comparison)."""

    pixels: ShotPixels = field(repr=False)
    region: ScalpRegion = field(repr=False)
    exposure: ExposureStats | None
    """``None`` (as white balance, lighting and glare) when measured only for a comparison."""
    white_balance: WhiteBalance | None
    focus: Focus
    illumination: IlluminationField | None
    illumination_measured_on: str
    """``"scalp"`` or ``"backdrop"``."""
    glare_pct: float | None
    card: CardGreys | None = None


def analyse_shot(pixels: ShotPixels, *, whole_frame: bool, rules: QaRules, card: CardGreys | None = None,
                 pair_only: bool = False) -> ShotAnalysis:
    """Measure exposure, white balance, focus, lighting and glare of one shot.

    Parameters
    ----------
    pixels : ShotPixels
    whole_frame : bool
        True for trichoscopy (scalp edge to edge); global views look for the head.
    rules : QaRules
    card : CardGreys, optional
        A calibration card in the shot: its grey patches give the white balance, and its
        area is left out of the scalp region.
    pair_only : bool
        Only what :func:`compare_shots` needs (region, focus, card): a baseline's own
        exposure, colour, lighting and glare were judged when it was taken.
    """
    region = scalp_region(pixels.linear, whole_frame=whole_frame, backdrop_texture_max=rules.region.backdrop_texture_max,
                          min_share_pct=rules.region.min_share_pct)
    if card is not None:
        covered = np.zeros(region.mask.shape, np.uint8)
        cv2.fillConvexPoly(covered, np.round(card.outline).astype(np.int32), 1)
        covered = cv2.dilate(covered, np.ones((9, 9), np.uint8)).astype(bool)
        region = ScalpRegion(region.mask & ~covered, region.share_pct, region.backdrop_found)
    focus = measure_focus(pixels.detail_luminance, _resized_mask(region.mask, pixels.detail_size))
    if pair_only:
        return ShotAnalysis(pixels=pixels, region=region, exposure=None, white_balance=None, focus=focus,
                            illumination=None, illumination_measured_on="scalp", glare_pct=None, card=card)
    y = pixels.luminance
    log_y = np.log(np.clip(y, 1e-4, None))
    if region.backdrop_found:
        # A global view: read the light off the plain backdrop around the head.
        around = cv2.dilate(region.mask.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
        illumination, lit = fit_field(log_y, ~around, blocks_per_side=16, percentile=50.0), "backdrop"
    else:
        # Scalp edge to edge: the upper envelope of each large block is skin under the light.
        illumination, lit = fit_field(log_y, region.mask, blocks_per_side=6, percentile=98.0), "scalp"
    return ShotAnalysis(
        pixels=pixels, region=region,
        exposure=measure_exposure(y, pixels.saturated, region.mask),
        white_balance=(balance_of_light(card.light_colour()) if card is not None
                       else estimate_white_balance(pixels.linear, region.mask)),
        focus=focus,
        illumination=illumination,
        illumination_measured_on=lit,
        glare_pct=glare_share_pct(pixels.linear, region.mask, near_white=rules.glare.near_white,
                                  max_chroma=rules.glare.max_chroma),
        card=card,
    )


def _resized_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (mask.shape[1], mask.shape[0]) == size:
        return mask
    return cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)


def shot_checks(shot: ShotAnalysis, rules: QaRules) -> list[Check]:
    """Single-shot image checks: exposure level and clipping, colour cast, focus, light, glare."""
    e, r = shot.exposure, rules.exposure
    level = e.level_lightness
    if level < r.level_warn_below:
        status = "fail" if level < r.level_fail_below else "warn"
        level_msg = f"underexposed: scalp highlights at L* {level:.0f}: open up or raise the flash power"
    elif level > r.level_warn_above:
        status = "fail" if level > r.level_fail_above else "warn"
        level_msg = f"overexposed: scalp highlights at L* {level:.0f}: stop down or lower the flash power"
    else:
        status, level_msg = "pass", f"exposure level L* {level:.0f}"
    checks = [
        Check("exposure.level", status, level, [r.level_warn_below, r.level_warn_above], level_msg),
        Check("exposure.highlights_clipped_pct", grade(e.highlights_clipped_pct, r.highlights_warn_pct, r.highlights_fail_pct),
              e.highlights_clipped_pct, r.highlights_warn_pct,
              f"{e.highlights_clipped_pct:.2f} % of the scalp clipped to white"),
        Check("exposure.shadows_clipped_pct", grade(e.shadows_clipped_pct, r.shadows_warn_pct, r.shadows_fail_pct),
              e.shadows_clipped_pct, r.shadows_warn_pct, f"{e.shadows_clipped_pct:.2f} % of the scalp clipped to black"),
    ]
    wb, w = shot.white_balance, rules.white_balance
    cast = abs(wb.cast_mired)
    tone = "warm (reddish)" if wb.cast_mired > 0 else "cool (bluish)"
    where = "on the card's grey patches" if shot.card is not None else "grey-edge estimate"
    checks.append(Check("white_balance.cast_mired", grade(cast, w.cast_warn_mired, w.cast_fail_mired), wb.cast_mired,
                        w.cast_warn_mired,
                        f"light balanced for {wb.cct_k:.0f} K, tint {wb.duv:+.4f} ({where}): "
                        + (f"{tone} cast of {cast:.0f} mired; set the white balance to the flash" if cast > w.cast_warn_mired
                           else "neutral")))
    f = rules.focus
    blur_status = grade(shot.focus.blur, f.blur_warn, f.blur_fail)
    checks.append(Check("focus.sharpness", blur_status, shot.focus.blur, f.blur_warn,
                        f"blur {shot.focus.blur:.2f} (0 sharp, 1 blurred)"
                        + (": refocus and retake" if blur_status != "pass" else "")))
    light, lr = shot.illumination, rules.lighting
    if light is None:
        checks.append(Check("lighting.uniformity", "pass", None, lr.uniformity_warn_ratio,
                            f"too little {shot.illumination_measured_on} to fit the lighting"))
    else:
        status = grade(light.ratio, lr.uniformity_warn_ratio, lr.uniformity_fail_ratio)
        checks.append(Check("lighting.uniformity", status, light.ratio, lr.uniformity_warn_ratio,
                            f"light varies {light.ratio:.2f}x across the {shot.illumination_measured_on}, darker towards "
                            f"{direction_words(light.darker_towards_deg)}"
                            + (": even out the lights" if status != "pass" else "")))
    g = rules.glare
    status = grade(shot.glare_pct, g.share_warn_pct, g.share_fail_pct)
    checks.append(Check("glare.share_pct", status, shot.glare_pct, g.share_warn_pct,
                        f"{shot.glare_pct:.2f} % of the scalp is specular glare"
                        + (": dry the hair, remove product, check the polariser" if status != "pass" else "")))
    return checks


@dataclass(frozen=True)
class PairAnalysis:
    registration: Registration
    pose: PoseChange | None
    exposure_ev: float | None
    white_balance: tuple[float, float] | None
    focus_ratio: float | None
    lighting_change: IlluminationField | None
    matrix_original: np.ndarray | None = field(repr=False, default=None)
    """Registration in full-resolution pixels (follow-up -> baseline)."""
    measured_on: str = "registered scalp"
    """Where exposure and colour were compared: ``registered scalp``, ``card``, or without a
    registration ``skin medians, unregistered`` (close-ups, hair taken out) or ``region
    medians, unregistered``."""
    pose_problem: str | None = None
    """Why a registered pair has no camera pose (no decomposition with the scalp in front of both cameras)."""


def _scaling(factor: float) -> np.ndarray:
    return np.diag([factor, factor, 1.0])


def register_shots(follow: ShotPixels, base: ShotPixels, rules: QaRules, skin_only: bool = True) -> Registration:
    """Register a follow-up's detail copy onto its baseline's (features + RANSAC).

    Parameters
    ----------
    follow, base : ShotPixels
    rules : QaRules
    skin_only : bool
        Close-ups register on skin (:func:`photostation.qa.registration.register`); ``False``
        for global views.

    Returns
    -------
    Registration
        The matrix maps follow-up detail pixels to baseline detail pixels.
    """
    g = rules.registration
    return register(np.sqrt(follow.detail_luminance), np.sqrt(base.detail_luminance), work_side=g.work_side_px,
                    max_features=g.max_features, ratio=g.ratio, ransac_px=g.ransac_px, min_inliers=g.min_inliers,
                    min_inlier_share=g.min_inlier_share, min_overlap_pct=g.min_overlap_pct,
                    max_scale_change=g.max_scale_change, skin_only=skin_only)


def compare_shots(follow: ShotAnalysis, base: ShotAnalysis, follow_k: Intrinsics, base_k: Intrinsics,
                  rules: QaRules, registration: Registration | None = None, skin_only: bool = True) -> PairAnalysis:
    """Register a follow-up to its baseline and compare exposure, colour, light, focus and pose.

    Parameters
    ----------
    follow, base : ShotAnalysis
    follow_k, base_k : Intrinsics
        Camera intrinsics at the detail (working) resolution of each shot.
    rules : QaRules
    registration : Registration, optional
        :func:`register_shots` of the two shots, when already computed (``check`` runs it
        beside the card search).
    skin_only : bool
        Passed to :func:`register_shots` (``False`` for global views).
    """
    reg = registration or register_shots(follow.pixels, base.pixels, rules, skin_only)
    ratio = focus_ratio(follow.focus, base.focus)
    by_card = _card_comparison(follow.card, base.card)
    if not reg.ok:
        if by_card is not None:
            return PairAnalysis(reg, None, by_card[0], by_card[1], ratio, None, measured_on="card")
        ev, balance, where = _unregistered_light(follow, base)
        return PairAnalysis(reg, None, ev, balance, ratio, None, measured_on=where)
    try:
        pose = decompose(reg.matrix, follow.pixels.detail_size, base.pixels.detail_size, follow_k, base_k)
    except NoPhysicalPose as problem:
        # A geometry no camera can produce: the registration is not to be trusted, and
        # exposure or colour compared through it would compare different skin.
        if by_card is not None:
            return PairAnalysis(reg, None, by_card[0], by_card[1], ratio, None, measured_on="card",
                                pose_problem=str(problem))
        ev, balance, where = _unregistered_light(follow, base)
        return PairAnalysis(reg, None, ev, balance, ratio, None, measured_on=where, pose_problem=str(problem))

    # Small registered copies: follow-up warped into the baseline frame (the registration
    # refers to the detail copies; the scale factors bring it to the small ones).
    base_small, s_b = resize_to(base.pixels.linear, _COMPARE_SIDE)
    follow_small, s_f = resize_to(follow.pixels.linear, _COMPARE_SIDE)
    s_b *= base.pixels.linear.shape[1] / base.pixels.detail_size[0]
    s_f *= follow.pixels.linear.shape[1] / follow.pixels.detail_size[0]
    h_small = _scaling(s_b) @ reg.matrix @ np.linalg.inv(_scaling(s_f))
    size = (base_small.shape[1], base_small.shape[0])
    warped = cv2.warpPerspective(follow_small, h_small, size, flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.ones(follow_small.shape[:2], np.uint8), h_small, size, flags=cv2.INTER_NEAREST)
    follow_region = cv2.resize(follow.region.mask.astype(np.uint8), (follow_small.shape[1], follow_small.shape[0]),
                               interpolation=cv2.INTER_NEAREST)
    warped_region = cv2.warpPerspective(follow_region, h_small, size, flags=cv2.INTER_NEAREST)
    base_region = cv2.resize(base.region.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    valid = cv2.erode((inside & warped_region & base_region).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    wy, byy = luminance(warped), luminance(base_small)
    # Hair that moved or grew between visits is not a change of light: on close-ups only
    # skin in both photos is compared.
    if reg.on_skin:
        valid = _skin_in_both(follow.pixels, base.pixels, reg.matrix, valid)
    ev = exposure_difference_ev(wy, byy, valid)
    # Light change: the ratio field of the pair, with the (common) exposure difference removed.
    log_ratio = np.log(np.clip(wy, 1e-4, None)) - np.log(np.clip(byy, 1e-4, None))
    usable = valid & (wy > 0.004) & (byy > 0.004) & (wy < 0.98) & (byy < 0.98)
    # On close-ups the skin in both shots can be a few per cent of the frame, in small
    # patches: a block with 5 % of it (~45 pixels) is enough for a median of the ratio.
    change = fit_field(log_ratio, usable, percentile=50.0, min_share=0.05 if reg.on_skin else 0.5)
    matrix_original = _scaling(1 / base.pixels.work_per_original) @ reg.matrix @ _scaling(follow.pixels.work_per_original)
    balance = white_balance_shift(warped, base_small, usable)
    measured_on = "registered scalp"
    if by_card is not None:
        # A card in both shots is a neutral, known reference: it beats the scalp.
        ev, balance = by_card
        measured_on = "card"
    return PairAnalysis(reg, pose, ev, balance, ratio, change, matrix_original / matrix_original[2, 2], measured_on)


def _skin_of(shot: ShotAnalysis) -> tuple[np.ndarray, bool]:
    """The shot's skin on its measuring copy: the scalp region without the hair on
    close-ups (:func:`photostation.qa.skin_view.skin_view`), the region itself on global
    views; and whether the hair was taken out."""
    region = shot.region.mask
    root = np.sqrt(np.clip(shot.pixels.luminance, 0, None))
    top = float(np.percentile(root[region], 99.5)) if region.any() else 1.0
    view = skin_view(np.clip(root / max(top, 1e-6) * 255.0, 0, 255).astype(np.uint8))
    if view is None:
        return region, False
    skin = region & (view.keypoint_mask > 0)
    return (skin, True) if skin.sum() >= 200 else (region, False)


def _unregistered_light(follow: ShotAnalysis, base: ShotAnalysis) -> tuple[float | None, tuple[float, float] | None, str]:
    """Exposure (EV) and light-colour shift of a pair that could not be registered, from the
    medians of each shot's skin; and what they were measured on. Hair that grew or moved
    changes a region's median, the skin's stays."""
    (skin_f, hairless_f), (skin_b, hairless_b) = _skin_of(follow), _skin_of(base)
    ev = exposure_difference_unregistered(follow.pixels.luminance, skin_f, base.pixels.luminance, skin_b)
    balance = white_balance_shift_unregistered(follow.pixels.linear, skin_f, base.pixels.linear, skin_b)
    return ev, balance, ("skin" if hairless_f and hairless_b else "region") + " medians, unregistered"


def _skin_in_both(follow: ShotPixels, base: ShotPixels, matrix: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``valid`` (baseline measuring-copy pixels) where both registered shots show skin.

    The hair is found on the detail copies, where a close-up's shafts are several pixels
    wide (:func:`photostation.qa.skin_view.skin_view`; on the measuring copy they may be too
    thin to tell from skin), the follow-up's mask is carried into the baseline frame with the
    registration (``matrix``: follow-up detail -> baseline detail pixels), and both are
    brought to the measuring copy. ``valid`` itself when either shot shows no hair lines, or
    when under 200 pixels would be left. Sparse skin is still better than hair that moved:
    the light's fit then has fewer blocks, or none (no ``lighting.change``), rather than a
    false change."""
    masks = []
    for pixels in (follow, base):
        y = pixels.detail_luminance
        grey, _ = feature_grey(np.sqrt(np.clip(y, 0, None)).astype(np.float32), max(y.shape))
        view = skin_view(grey)
        if view is None:
            return valid
        masks.append(view.keypoint_mask)
    bw, bh = base.detail_size
    follow_skin = cv2.warpPerspective(masks[0], matrix, (bw, bh), flags=cv2.INTER_NEAREST)
    both = cv2.resize(follow_skin & masks[1], (valid.shape[1], valid.shape[0]), interpolation=cv2.INTER_AREA) > 127
    keep = valid & both
    return keep if keep.sum() >= 200 else valid


def _card_comparison(follow: CardGreys | None, base: CardGreys | None) -> tuple[float, tuple[float, float]] | None:
    """Exposure (EV) and light-colour shift (mired, Duv) from the grey patches both shots share."""
    if follow is None or base is None or follow.card_type != base.card_type:
        return None
    common = sorted(set(follow.indices) & set(base.indices))
    if len(common) < 2:
        return None
    f = follow.measured[[follow.indices.index(i) for i in common]]
    b = base.measured[[base.indices.index(i) for i in common]]
    weights = np.array([0.2126, 0.7152, 0.0722])
    ev = float(np.median(np.log2((f @ weights) / (b @ weights))))
    gains = np.median(f / b, axis=0)
    shifted = balance_of_light(np.array([gains[0] / gains[1], 1.0, gains[2] / gains[1]]))
    return round(ev, 3), (shifted.cast_mired, shifted.duv)


def _pose_checks(pose: PoseChange, rules: QaRules) -> list[Check]:
    p = rules.pose
    roll = pose.roll_deg
    turn = "counter-clockwise" if roll > 0 else "clockwise"
    checks = [Check("pose.roll_deg", grade(abs(roll), p.roll_warn_deg, p.roll_fail_deg), roll, p.roll_warn_deg,
                    f"rotated {abs(roll):.1f}° {'clockwise' if roll > 0 else 'counter-clockwise'} against baseline"
                    + (f": turn the camera {abs(roll):.0f}° {turn}" if abs(roll) > p.roll_warn_deg else ""))]
    tilt_status = grade(pose.tilt_deg, p.tilt_warn_deg, p.tilt_fail_deg)
    where = f" (the {pose.farther_edge} of the frame is farther from the scalp than at baseline)" if pose.farther_edge else ""
    checks.append(Check("pose.tilt_deg", tilt_status, pose.tilt_deg, p.tilt_warn_deg,
                        f"tilted {pose.tilt_deg:.1f}° against baseline{where}"
                        + (f": tilt the camera to bring the {pose.farther_edge} closer" if tilt_status != "pass" and pose.farther_edge
                           else "")))
    scale = pose.scale_pct
    scale_status = grade(abs(scale), p.scale_warn_pct, p.scale_fail_pct)
    closer = "closer" if pose.distance_change_pct < 0 else "farther"
    checks.append(Check("pose.scale_pct", scale_status, scale, p.scale_warn_pct,
                        f"scalp {abs(scale):.1f} % {'larger' if scale > 0 else 'smaller'} than at baseline "
                        f"(camera about {abs(pose.distance_change_pct):.0f} % {closer})"
                        + (f": move the camera {'back' if scale > 0 else 'in'}" if scale_status != "pass" else "")))
    dx, dy = pose.shift_px
    shift_status = grade(pose.shift_pct, p.shift_warn_pct, p.shift_fail_pct)
    horizontal = "left" if dx > 0 else "right"
    vertical = "up" if dy > 0 else "down"
    move = " and ".join(d for d, v in ((horizontal, abs(dx)), (vertical, abs(dy))) if v >= 0.3 * max(abs(dx), abs(dy)))
    checks.append(Check("pose.shift_pct", shift_status, pose.shift_pct, p.shift_warn_pct,
                        f"framing off by {pose.shift_pct:.1f} % of the frame"
                        + (f": move the camera {move}" if shift_status != "pass" else "")))
    return checks


def pair_image_checks(pair: PairAnalysis, rules: QaRules) -> list[Check]:
    """Checks of a follow-up against its baseline: registration, pose, exposure, colour, light, focus."""
    reg = pair.registration
    g = rules.registration
    if reg.ok and pair.pose is None:
        checks = [Check("pose.registration", "fail", reg.inliers, g.min_inliers,
                        f"registered on {reg.inliers} of {reg.matches} matches, but {pair.pose_problem or 'no camera pose fits'}: "
                        "angle and distance not measured; retake square to the scalp as at baseline")]
    elif reg.ok:
        checks = [Check("pose.registration", "pass", reg.inliers, g.min_inliers,
                        f"registered on {reg.inliers} of {reg.matches} matches, residual {reg.residual_px:.2f} px, "
                        f"overlap {reg.overlap_pct:.0f} %")]
        checks += _pose_checks(pair.pose, rules)
    else:
        checks = [Check("pose.registration", "fail", reg.inliers, g.min_inliers,
                        f"cannot register with the baseline: {reg.reason}; angle and distance not measured")]
    r = rules.exposure
    if pair.exposure_ev is None:
        checks.append(Check("exposure.difference_ev", "warn", None, r.difference_warn_ev,
                            "cannot compare the exposure with the baseline (too little common scalp)"))
    else:
        ev = pair.exposure_ev
        status = grade(abs(ev), r.difference_warn_ev, r.difference_fail_ev)
        how = pair.measured_on
        checks.append(Check("exposure.difference_ev", status, ev, r.difference_warn_ev,
                            f"{abs(ev):.2f} EV {'brighter' if ev > 0 else 'darker'} than baseline ({how})"
                            + (f": {'lower' if ev > 0 else 'raise'} the exposure or flash power" if status != "pass" else "")))
    w = rules.white_balance
    if pair.white_balance is not None:
        mired, duv = pair.white_balance
        status = max(grade(abs(mired), w.shift_warn_mired, w.shift_fail_mired),
                     grade(abs(duv), w.tint_shift_warn_duv, w.tint_shift_fail_duv), key=("pass", "warn", "fail").index)
        checks.append(Check("white_balance.shift_mired", status, mired, w.shift_warn_mired,
                            f"light {abs(mired):.0f} mired {'warmer' if mired > 0 else 'cooler'} and tint {duv:+.4f} "
                            f"against baseline ({pair.measured_on})" + (": use the baseline's white balance and flash" if status != "pass" else "")))
    elif reg.ok and pair.pose is not None:
        checks.append(Check("white_balance.shift_mired", "warn", None, w.shift_warn_mired,
                            "cannot compare the colour with the baseline (too little common scalp)"))
    f = rules.focus
    if pair.focus_ratio is not None:
        status = grade(pair.focus_ratio, f.ratio_warn_below, f.ratio_fail_below, lower_is_worse=True)
        checks.append(Check("focus.ratio", status, pair.focus_ratio, f.ratio_warn_below,
                            f"fine detail {pair.focus_ratio:.2f}x the baseline's"
                            + (": refocus and retake" if status != "pass" else "")))
    lr = rules.lighting
    if pair.lighting_change is not None:
        change = pair.lighting_change
        status = grade(change.ratio, lr.change_warn_ratio, lr.change_fail_ratio)
        checks.append(Check("lighting.change", status, change.ratio, lr.change_warn_ratio,
                            f"lighting changed {change.ratio:.2f}x across the frame against baseline"
                            + (f", darker towards {direction_words(change.darker_towards_deg)}: put the lights back "
                               "as at baseline" if status != "pass" else "")))
    return checks
