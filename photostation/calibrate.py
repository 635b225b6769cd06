"""Calibrating a photo: find the card, read its patches, fit the colour correction, measure the
scale and the light, or fall back to the station's profile; and apply a calibration to
photos before any measurement.

This is the library behind ``photostation calibrate``; the maths is in :mod:`calibration`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from calibration.cards import COLORCHECKER, CardDetection, find_card
from calibration.ccm import AUTO_METHODS, ColourCorrection, apply_correction, choose_correction
from calibration.tone_curve import ToneCurve
from calibration.colorimetry import cct_of_rgb, delta_e2000, lab_d50_from_linear_srgb
from calibration.flatfield import FlatField, apply_flat_field, fit_flat_field
from calibration.patches import PatchReadings, read_patches
from calibration.scale import card_tilt_deg, mm_per_px_at
from photostation.errors import InputError
from photostation.imaging import decode, read_bytes
from photostation.metadata import PhotoMetadata, read_metadata
from photostation.protocol import CalibrationRules, Protocol
from photostation.qa.pixels import channel_max, luminance, to_linear
from photostation.qa.pose import intrinsics_from_exif
from photostation.results import Check, Status, grade, verdict
from photostation.stations import EffectiveProfile, select_profile

# Patch colours are averages over many pixels: a 2000-px copy reads them as well as full
# resolution and detects cards far faster.
CALIBRATION_SIDE = 2000


@dataclass(frozen=True)
class CalibrationReport:
    """What ``photostation calibrate`` found. ``to_json()`` is the ``--json`` contract."""

    card: CardDetection | None
    readings: PatchReadings | None
    correction: ColourCorrection | None
    delta_e_before: np.ndarray | None
    delta_e_after: np.ndarray | None
    mm_per_px: float | None
    tilt_deg: float | None
    illuminant_cct_k: float | None
    source: str
    """``fitted`` (from the card in this photo), ``station_profile`` or ``none``."""
    profile: EffectiveProfile | None
    flags: tuple[str, ...]
    checks: tuple[Check, ...]
    verdict: Status
    flat_field: FlatField | None = None
    image_size: tuple[int, int] | None = None
    """``(width, height)`` the pixel coordinates refer to (the photo as displayed)."""
    neutral_spread_pct: float | None = None
    corrected_patches: np.ndarray | None = field(default=None, repr=False)

    @property
    def ccm(self) -> np.ndarray | None:
        if self.correction is not None:
            return self.correction.matrix
        return self.profile.ccm if self.profile is not None else None

    @property
    def tone_curve(self) -> ToneCurve | None:
        """The camera's tone curve applied before :attr:`ccm` (None: the sRGB decoding is used)."""
        if self.correction is not None:
            return self.correction.tone_curve
        return self.profile.tone_curve if self.profile is not None else None

    def to_json(self) -> dict[str, Any]:
        def rounded(values: np.ndarray | None, digits: int = 3) -> Any:
            return None if values is None else np.round(np.asarray(values, float), digits).tolist()

        valid = self.readings.valid if self.readings is not None else None
        names = self.card.patch_names if self.card is not None else ()
        patches = []
        if self.card is not None and self.delta_e_before is not None:
            for i, name in enumerate(names):
                patches.append({"index": i, "name": name,
                                "delta_e00_before": None if not valid[i] else round(float(self.delta_e_before[i]), 3),
                                "delta_e00_after": None if not valid[i] or self.delta_e_after is None
                                else round(float(self.delta_e_after[i]), 3)})
        de_b = self.delta_e_before[valid] if self.delta_e_before is not None else None
        de_a = self.delta_e_after[valid] if self.delta_e_after is not None else None
        return {
            "card": {"type": self.card.type if self.card else None,
                     "corners": rounded(self.card.corners_px, 2) if self.card else None},
            "delta_e00": {"before_mean": round(float(de_b.mean()), 3) if de_b is not None and de_b.size else None,
                          "after_mean": round(float(de_a.mean()), 3) if de_a is not None and de_a.size else None,
                          "after_max": round(float(de_a.max()), 3) if de_a is not None and de_a.size else None,
                          "expected_mean": None if self.correction is None or
                          self.correction.expected_delta_e00 is None
                          else round(float(self.correction.expected_delta_e00), 3)},
            "ccm": rounded(self.ccm, 6),
            "mm_per_px": None if self.mm_per_px is None else round(self.mm_per_px, 7),
            "illuminant_cct_k": None if self.illuminant_cct_k is None else round(self.illuminant_cct_k, 1),
            "tilt_deg": None if self.tilt_deg is None else round(self.tilt_deg, 2),
            "correction": self.source,
            "method": self.correction.method if self.correction else (self.profile.ccm_method if self.profile else None),
            "linearisation": None if self.ccm is None else ("grey_ramp" if self.tone_curve is not None else "srgb"),
            "tone_curve": None if self.tone_curve is None else self.tone_curve.to_json(),
            "ridge": self.correction.ridge if self.correction else None,
            "model_selection": [{"method": c.method, "linearisation": c.linearisation, "ridge": c.ridge,
                                 "expected_delta_e00": c.expected_delta_e00}
                                for c in (self.correction.candidates if self.correction else ())],
            "patches": patches,
            "excluded_patches": [{"index": i, "name": names[i], "reason": why}
                                 for i, why in sorted((self.readings.excluded if self.readings else {}).items())],
            "neutral_spread_pct": self.neutral_spread_pct,
            "flat_field_ratio": self.flat_field.ratio if self.flat_field is not None else None,
            "profile": None if self.profile is None else {
                "station": self.profile.station, "ccm_profile_id": self.profile.ccm_profile_id,
                "ccm_valid_from": self.profile.ccm_valid_from.isoformat() if self.profile.ccm_valid_from else None,
                "scale_profile_id": self.profile.scale_profile_id, "flat_profile_id": self.profile.flat_profile_id},
            "image_size": list(self.image_size) if self.image_size else None,
            "flags": list(self.flags),
            "verdict": self.verdict,
            "checks": [c.to_dict() for c in self.checks],
        }


def _linear_and_saturated(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top = 255 if rgb.dtype == np.uint8 else 65535
    return to_linear(rgb), channel_max(rgb) >= top - (1 if rgb.dtype == np.uint8 else 64)


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return rgb if rgb.dtype == np.uint8 else np.clip(np.round(rgb / 257.0), 0, 255).astype(np.uint8)


def _card_scale(card: CardDetection, rules: CalibrationRules) -> tuple[np.ndarray, tuple[float, float]] | None:
    """Card millimetres -> pixels and the card's centre in those millimetres: the PS-1
    geometry, or the ColorChecker's patch pitch when the protocol gives it."""
    if card.card_to_image is not None and card.centre_mm is not None:
        return card.card_to_image, card.centre_mm
    if card.type == COLORCHECKER and rules.colorchecker_patch_pitch_mm > 0:
        import cv2

        pitch = rules.colorchecker_patch_pitch_mm
        grid = np.array([[(i % 6) * pitch, (i // 6) * pitch] for i in range(24)], float)
        centres = card.patch_quads_px.mean(axis=1)
        homography, _ = cv2.findHomography(grid, centres, 0)
        return homography, (2.5 * pitch, 1.5 * pitch)
    return None


def _neutral_spread_pct(corrected: np.ndarray, measured: np.ndarray, reference: np.ndarray,
                        neutrals: tuple[int, ...], valid: np.ndarray) -> float | None:
    """Largest channel imbalance of the corrected grey patches, relative to their reference
    (the reference greys themselves are not perfectly neutral), in % of their level. Greys
    the camera recorded with a channel under 5 % of full scale (dark greys, or blue under
    tungsten light) are left out: in an 8-bit file their imbalance is noise and quantisation."""
    ratios = [corrected[i] / reference[i] for i in neutrals
              if valid[i] and reference[i].min() > 0.02 and measured[i].min() > 0.05]
    if not ratios:
        return None
    return round(float(max(100.0 * (r.max() - r.min()) / r.mean() for r in ratios)), 3)


def _without_card(profile: EffectiveProfile | None, rules: CalibrationRules, flat_field: FlatField | None,
                  full_size: tuple[int, int], why: str) -> CalibrationReport:
    """The report when no usable card is in the photo: the station profile when there is one."""
    fallback = profile is not None and profile.ccm is not None
    flags = [f"{why}: " + ("the station profile is used" if fallback else "no station profile to fall back to")]
    checks = [Check("calibration.card", "warn" if fallback else "fail", None, None,
                    why + (f"; using the station profile valid from {profile.ccm_valid_from}" if fallback
                           else "; put the card in the shot or calibrate the station"))]
    if fallback and profile.ccm_valid_from is not None:
        age = (profile.on_date - profile.ccm_valid_from).days
        checks.append(Check("calibration.profile_age", grade(age, rules.profile_max_age_days,
                                                           rules.profile_max_age_days * 2), age,
                            rules.profile_max_age_days, f"station profile {age} days old"))
    return CalibrationReport(None, None, None, None, None, profile.mm_per_px if profile else None, None,
                             profile.illuminant_cct_k if profile else None,
                             "station_profile" if fallback else "none", profile, tuple(flags), tuple(checks),
                             verdict(checks), flat_field, full_size)


def calibrate_image(rgb: np.ndarray, metadata: PhotoMetadata | None, protocol: Protocol, *,
                    ccm_method: str | None = None, flat_field: FlatField | None = None,
                    profile: EffectiveProfile | None = None, close_up: bool = False) -> CalibrationReport:
    """Calibrate one photo given as pixels.

    Parameters
    ----------
    rgb : numpy.ndarray
        Decoded ``uint8``/``uint16`` RGB (orientation applied).
    metadata : PhotoMetadata, optional
        For the camera intrinsics (card tilt) and the size of the full photo.
    protocol : Protocol
    ccm_method : {"auto", "root_polynomial", "least_squares", "polynomial_ridge", "opencv"}, optional
        Default: the protocol's ``calibration.ccm_method``. ``auto`` chooses the model by
        leave-one-patch-out cross-validation; a named model is still fitted with or without
        the grey-ramp linearisation, whichever cross-validates better
        (:func:`calibration.ccm.choose_correction`).
    flat_field : FlatField, optional
        The station's illumination profile, applied before the patches are read.
    profile : EffectiveProfile, optional
        The station's profile, used when no card is in the photo.
    close_up : bool
        A trichoscopy close-up: no ColorChecker is looked for unless the protocol's
        ``calibration.colorchecker_in_close_ups`` says so.

    Returns
    -------
    CalibrationReport
    """
    rules = protocol.calibration
    method = ccm_method or rules.ccm_method
    full_size = (metadata.width or rgb.shape[1], metadata.height or rgb.shape[0]) if metadata else \
        (rgb.shape[1], rgb.shape[0])
    card = find_card(_to_uint8(rgb), max_side=CALIBRATION_SIDE, colorchecker_reference=rules.colorchecker_reference,
                     colorchecker=rules.colorchecker_in_close_ups or not close_up)
    if card is None:
        return _without_card(profile, rules, flat_field, full_size, "no calibration card in the photo")
    linear, saturated = _linear_and_saturated(rgb)
    if flat_field is not None:
        linear = apply_flat_field(linear, flat_field)
    readings = read_patches(linear, saturated, card.patch_quads_px, shrink=rules.patch_shrink,
                            max_clipped_share=rules.patch_max_clipped_share, max_variation=rules.patch_max_variation,
                            min_pixels=rules.patch_min_pixels)
    valid = readings.valid
    usable_greys = [i for i in card.neutrals if valid[i]]
    grey_levels = luminance(readings.means[usable_greys])
    if len(grey_levels) >= 2 and np.any(np.diff(grey_levels) >= 0):
        # The card's greys are listed light to dark: a "card" whose greys do not get darker
        # along the row is another chart, or a grid found where there is no card (OpenCV's
        # detector does both). Fitting to it would give a confident wrong correction.
        return _without_card(profile, rules, flat_field, full_size,
                             f"the {card.type} found has grey patches that do not run from light to dark: not the "
                             "card, or found in the wrong place")
    checks: list[Check] = [Check("calibration.card", "pass", card.type, None, f"{card.type} card found")]
    flags: list[str] = []
    if readings.excluded:
        flags.append(f"{len(readings.excluded)} patch(es) excluded: " + ", ".join(
            f"{card.patch_names[i]} ({why})" for i, why in sorted(readings.excluded.items())))
    enough = valid.sum() >= rules.min_patches and len(usable_greys) >= 2
    checks.append(Check("calibration.patches", "pass" if enough else "fail", int(valid.sum()), rules.min_patches,
                        f"{int(valid.sum())} of {len(valid)} patches usable"
                        + ("" if enough else ": too few to fit a correction (card out of frame, clipped or covered)")))
    reference_lab = lab_d50_from_linear_srgb(card.reference_linear)
    measured = np.where(valid[:, None], readings.means, 0.0)
    delta_before = np.where(valid, delta_e2000(lab_d50_from_linear_srgb(np.clip(measured, 0, 1)), reference_lab), np.nan)
    greys = readings.means[usable_greys]
    illuminant = float(cct_of_rgb(greys.sum(axis=0))[0]) if len(greys) else None

    correction, delta_after, corrected, spread = None, None, None, None
    if enough:
        neutral = np.isin(np.nonzero(valid)[0], card.neutrals)
        correction = choose_correction(readings.means[valid], card.reference_linear[valid], neutral=neutral,
                                       neutral_weight=rules.neutral_patch_weight,
                                       methods=AUTO_METHODS if method == "auto" else (method,))
        corrected = correction.apply(np.nan_to_num(readings.means))
        delta_after = np.where(valid, delta_e2000(lab_d50_from_linear_srgb(corrected), reference_lab), np.nan)
        after_mean = float(np.nanmean(delta_after))
        if correction.withheld:
            flags.append(f"correction withheld: {correction.withheld}")
        checks.append(Check("calibration.delta_e00", grade(after_mean, rules.delta_e_after_warn, rules.delta_e_after_fail),
                            round(after_mean, 3), rules.delta_e_after_warn,
                            f"mean CIEDE2000 {np.nanmean(delta_before):.2f} before, {after_mean:.2f} after correction"
                            + (f" ({correction.method}, {correction.linearisation})" if not correction.withheld
                               else " (correction withheld)")))
        expected = correction.expected_delta_e00
        # The card's own patches flatter the fit; a patch the fit did not see is the honest
        # figure for the skin and hair in the photo, graded by the same clinic limits.
        checks.append(Check("calibration.expected_delta_e00", grade(expected, rules.delta_e_after_warn,
                                                                      rules.delta_e_after_fail),
                            round(expected, 3), rules.delta_e_after_warn,
                            f"expected CIEDE2000 {expected:.2f} on colours not on the card "
                            "(each patch predicted by a fit to the others)"))
        spread = _neutral_spread_pct(corrected, np.nan_to_num(readings.means), card.reference_linear, card.neutrals,
                                     valid)
        if spread is not None:
            checks.append(Check("calibration.neutral", grade(spread, rules.neutral_spread_warn_pct,
                                                             2 * rules.neutral_spread_warn_pct), spread,
                                rules.neutral_spread_warn_pct,
                                f"corrected grey patches within {spread:.2f} % of neutral between channels"))

    mm_per_px, tilt = None, None
    geometry = _card_scale(card, rules)
    if geometry is not None:
        to_image, centre_mm = geometry
        # Pixel coordinates of the detection copy are those of ``rgb``; bring them to the
        # full photo so the scale applies to the file as measured later.
        factor = full_size[0] / rgb.shape[1]
        to_full = np.diag([factor, factor, 1.0]) @ to_image
        # The scale where the card is: at its centre (not where the mean of its image corners
        # falls, which perspective moves by millimetres).
        mm_per_px = mm_per_px_at(to_full, centre_mm)
        k = intrinsics_from_exif(full_size, metadata.focal_length_35mm if metadata else None,
                                 metadata.focal_length_mm if metadata else None,
                                 metadata.sensor_long_side_mm if metadata else None)
        tilt = card_tilt_deg(to_full, k.matrix(full_size))
        status = "pass" if tilt <= rules.max_card_tilt_deg else "warn"
        checks.append(Check("calibration.card_tilt_deg", status, round(tilt, 2), rules.max_card_tilt_deg,
                            f"card tilted {tilt:.1f}° against the camera ({k.source})"
                            + ("" if status == "pass" else ": the scale is less reliable; hold the card flatter")))
        if status != "pass":
            flags.append("card strongly tilted: scale less reliable")
    elif card.type == COLORCHECKER:
        flags.append("no scale: the ColorChecker's patch pitch is not set in the protocol (use the PS-1 card)")

    return CalibrationReport(card, readings, correction, delta_before, delta_after, mm_per_px, tilt, illuminant,
                             "fitted" if correction is not None else (
                                 "station_profile" if profile is not None and profile.ccm is not None else "none"),
                             profile, tuple(flags), tuple(checks), verdict(checks), flat_field, full_size,
                             spread, corrected)


MIN_SIDE_PX = 32
"""A card or a grey target needs a frame at least this many pixels a side: a single row or a
1-pixel "photo" holds neither (and its working copies grew to gigabytes)."""


def _large_enough(rgb: np.ndarray) -> np.ndarray:
    if min(rgb.shape[:2]) < MIN_SIDE_PX:
        raise InputError(f"the photo is {rgb.shape[1]} x {rgb.shape[0]} pixels: too small to calibrate "
                         f"(at least {MIN_SIDE_PX} pixels a side)")
    return rgb


def calibrate_photo(path: Path | str, protocol: Protocol, *, station: str | None = None, device: str | None = None,
                    factory: sessionmaker[Session] | None = None, ccm_method: str | None = None) -> CalibrationReport:
    """Calibrate a photo file (see :func:`calibrate_image`); with a station and a ledger, the
    station's flat-field is applied first and its profile is the fallback."""
    data = read_bytes(path)
    metadata = read_metadata(data, str(path))
    rgb = _large_enough(decode(data, str(path), max_side=CALIBRATION_SIDE))
    profile = None
    if station and factory is not None:
        captured = metadata.captured_datetime
        on_date = captured.date() if captured else dt.date.today()
        profile = select_profile(factory, station, on_date, device)
    return calibrate_image(rgb, metadata, protocol, ccm_method=ccm_method,
                           flat_field=profile.flat_field if profile else None, profile=profile)


def flat_field_from_photo(path: Path | str, protocol: Protocol) -> FlatField:
    """The illumination profile from a shot of a uniform grey target (refused when too uneven)."""
    data = read_bytes(path)
    rgb = _large_enough(decode(data, str(path), max_side=CALIBRATION_SIDE))
    linear, saturated = _linear_and_saturated(rgb)
    if saturated.mean() > 0.01:
        raise InputError(f"flat-field target overexposed ({100 * saturated.mean():.1f} % clipped): lower the exposure")
    flat = fit_flat_field(linear)
    if flat.ratio > protocol.calibration.flat_field_max_ratio:
        raise InputError(f"flat-field target too uneven (max/min {flat.ratio:.2f}, limit "
                         f"{protocol.calibration.flat_field_max_ratio:g}): is it a uniform grey target filling the frame?")
    return flat


def correct_linear(linear: np.ndarray, *, ccm: np.ndarray | None, flat_field: FlatField | None,
                   tone_curve: ToneCurve | None = None) -> np.ndarray:
    """Apply a calibration to a linear image: flat-field first, then the camera's tone curve
    (when the calibration measured one) and the colour matrix.

    This is what every measurement does before it looks at the pixels.
    """
    out = apply_flat_field(linear, flat_field) if flat_field is not None else np.asarray(linear, np.float32)
    return apply_correction(out, ccm, tone_curve) if ccm is not None else out
