"""Colour correction: a matrix that maps the camera's linear RGB of the card's patches onto
their reference colours, then applied to whole photos.

Five fits are available, and a choice among them:

``root_polynomial``
    Second-order root-polynomial regression (Finlayson, Mackiewicz & Hurlbert 2015, "Color
    correction using root-polynomial regression", IEEE TIP 24(5)): terms ``r, g, b, sqrt(rg),
    sqrt(gb), sqrt(rb)`` mapped by a 3x6 matrix, fitted by least squares with each patch
    weighted by the inverse of its reference luminance. Like a 3x3 matrix it is unchanged
    by exposure (every term scales with the light), but it also absorbs the camera's
    non-colorimetric response under lamps far from daylight.
``least_squares``
    A 3x3 matrix in linear RGB by weighted least squares (Finlayson & Drew 1996 style linear
    colour correction), each patch weighted by the inverse of its reference luminance so
    that dark patches count as much as light ones (perceptual errors scale with lightness).
    Closed form, deterministic, preserves neutral greys' ratios up to the fit.
``opencv``
    OpenCV contrib's ``ccm.ColorCorrectionModel`` (linear 3x3, sRGB, CIEDE2000 loss,
    least-squares start): an iterative fit that minimises ΔE00 directly.

``polynomial_ridge``
    Full second-order polynomial (``r, g, b, r², g², b², rg, gb, rb``; Hong, Luo & Rhodes
    2001) by ridge regression towards a plain white balance (per-channel gains on the grey
    patches). Nine terms fit 24 patches closely but extrapolate wildly where a channel is
    weak and noisy (blue under tungsten light); the penalty keeps the fit near the white
    balance unless the patches ask for more. Its strength is chosen by cross-validation.

``white_balance``
    Per-channel gains only (a diagonal 3x3 fitted on the grey patches): no colour is fitted.
    With the grey-ramp linearisation it is the tone curve alone. The simplest correction:
    where the colour models predict held-out patches no better, it is what balances the
    photo.

``auto`` (the default) chooses among white balance, 3x3, root-polynomial and the regularised
polynomial, each with and without linearising the camera's tone curve first
(:mod:`calibration.tone_curve`), by leave-one-patch-out cross-validation: each patch is
predicted by a model fitted to the others; among the models whose held-out patches come
within one standard error of the closest (mean CIEDE2000), a grey-ramp one is preferred,
then the closest (:func:`choose_correction`). That held-out error is what to expect on
colours that are not on the card, and it is reported. If no model predicts the held-out
patches better than the uncorrected photo matches them, no correction is applied and the
report says so.

The benchmarks (benchmarks/calibration.py on our renders, benchmarks/colour_correction.py
on real chart photos and independent spectral renders) compare them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from calibration.colorimetry import delta_e2000, lab_d50_from_linear_srgb
from calibration.tone_curve import (LUMINANCE, MIN_GREYS, ToneCurve, apply_tints, apply_tone_curve, fit_tone_curve,
                                   grey_tints, neutral_axis)

METHODS = ("auto", "root_polynomial", "least_squares", "polynomial_ridge", "white_balance", "opencv")
AUTO_METHODS = ("white_balance", "least_squares", "root_polynomial", "polynomial_ridge")
"""The models ``auto`` chooses among (OpenCV's iterative fit is too slow to cross-validate)."""
LINEARISATIONS = ("srgb", "grey_ramp")
"""``srgb``: the file's own sRGB decoding; ``grey_ramp``: the tone curve read off the greys."""
RIDGE_STRENGTHS = (1e-4, 1e-3, 1e-2)
"""Penalties tried for ``polynomial_ridge``, per coefficient and relative to the patches' total
fit weight: a decade apart from barely regularised to nearly a white balance."""


@dataclass(frozen=True)
class Candidate:
    """One model tried by :func:`choose_correction` and its held-out error."""

    method: str
    linearisation: str
    ridge: float | None
    expected_delta_e00: float
    """Mean CIEDE2000 of the patches, each predicted by the model fitted to the others."""
    standard_error: float = 0.0
    """Standard error of that mean (the held-out errors' standard deviation over sqrt(N))."""


@dataclass(frozen=True)
class ColourCorrection:
    matrix: np.ndarray
    """3x3 (on ``r, g, b``), 3x6 (root-polynomial terms) or 3x9 (second-order polynomial
    terms): corrected = matrix @ terms of the (linearised) camera RGB."""
    method: str
    """The model; ``none`` when the correction was withheld (identity matrix)."""
    patches_used: int
    tone_curve: ToneCurve | None = None
    """Applied to the sRGB-decoded camera RGB before the matrix (``grey_ramp``), or None."""
    ridge: float | None = None
    expected_delta_e00: float | None = None
    """Leave-one-patch-out mean CIEDE2000: the error to expect on colours not on the card."""
    candidates: tuple[Candidate, ...] = field(default=())
    withheld: str | None = None
    """Why no correction is applied (the fit would make the photo worse), or None."""

    @property
    def linearisation(self) -> str:
        return "grey_ramp" if self.tone_curve is not None else "srgb"

    def apply(self, linear: np.ndarray) -> np.ndarray:
        """Correct sRGB-decoded linear RGB ``(..., 3)``: tone curve, then matrix."""
        return apply_correction(linear, self.matrix, self.tone_curve)


def root_polynomial_terms(rgb: np.ndarray) -> np.ndarray:
    """``(..., 6)`` second-order root-polynomial terms ``r, g, b, sqrt(rg), sqrt(gb), sqrt(rb)``."""
    rgb = np.clip(np.asarray(rgb, np.float32), 0.0, None)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.stack([r, g, b, np.sqrt(r * g), np.sqrt(g * b), np.sqrt(r * b)], axis=-1)


def polynomial_terms(rgb: np.ndarray) -> np.ndarray:
    """``(..., 9)`` second-order polynomial terms ``r, g, b, r², g², b², rg, gb, rb``."""
    rgb = np.clip(np.asarray(rgb, np.float32), 0.0, None)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.stack([r, g, b, r * r, g * g, b * b, r * g, g * b, r * b], axis=-1)


def _terms(rgb: np.ndarray, width: int) -> np.ndarray:
    if width == 3:
        return np.asarray(rgb, np.float32)
    if width == 6:
        return root_polynomial_terms(rgb)
    if width == 9:
        return polynomial_terms(rgb)
    raise ValueError(f"a colour-correction matrix has 3, 6 or 9 columns, not {width}")


def patch_weights(reference: np.ndarray, neutral: np.ndarray | None, neutral_weight: float) -> np.ndarray:
    """Per-patch fit weights: inverse reference luminance (dark patches count as much as light
    ones), times ``neutral_weight`` on the grey patches so that the correction keeps greys grey."""
    weights = 1.0 / np.clip(reference @ LUMINANCE, 0.02, None)
    if neutral is not None:
        weights = weights * np.where(neutral, neutral_weight, 1.0)
    return weights


def _weighted_lstsq(terms: np.ndarray, reference: np.ndarray, weights: np.ndarray) -> np.ndarray:
    sw = np.sqrt(weights)[:, None]
    solution, *_ = np.linalg.lstsq(terms * sw, reference * sw, rcond=None)
    return solution.T


def fit_least_squares(measured: np.ndarray, reference: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares 3x3 matrix from measured to reference linear RGB."""
    weights = patch_weights(reference, None, 1.0) if weights is None else weights
    return _weighted_lstsq(np.asarray(measured, float), reference, weights)


def fit_root_polynomial(measured: np.ndarray, reference: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares 3x6 root-polynomial matrix from measured to reference linear RGB."""
    weights = patch_weights(reference, None, 1.0) if weights is None else weights
    return _weighted_lstsq(root_polynomial_terms(measured).astype(float), reference, weights)


def fit_polynomial_ridge(measured: np.ndarray, reference: np.ndarray, weights: np.ndarray | None = None, *,
                         neutral: np.ndarray | None = None, ridge: float = 1e-3,
                         patch_weight_total: float | None = None) -> np.ndarray:
    """Weighted ridge regression of the 3x9 second-order polynomial, towards a white balance.

    The prior is the diagonal of per-channel gains that best map the grey patches (all
    patches when none is marked grey) onto their reference; the penalty is ``ridge`` times
    the patches' total weight (``patch_weight_total``, default the sum of ``weights``; pass
    the real patches' total when ``weights`` also holds constraint pseudo-patches), per
    coefficient.
    """
    measured = np.asarray(measured, float)
    weights = patch_weights(reference, None, 1.0) if weights is None else np.asarray(weights, float)
    terms = polynomial_terms(measured).astype(float)
    prior = np.zeros((terms.shape[1], 3))
    prior[:3, :3] = fit_white_balance(measured, reference, weights, neutral=neutral)
    penalty = np.sqrt(ridge * (weights.sum() if patch_weight_total is None else patch_weight_total))
    sw = np.sqrt(weights)[:, None]
    a = np.vstack([terms * sw, penalty * np.eye(terms.shape[1])])
    b = np.vstack([reference * sw, penalty * prior])
    solution, *_ = np.linalg.lstsq(a, b, rcond=None)
    return solution.T


def fit_opencv(measured: np.ndarray, reference: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """OpenCV ``ccm`` fit (CIEDE2000 loss) of measured linear RGB onto the reference colours.

    The reference is given to OpenCV as sRGB-encoded values; OpenCV's model works on
    linear input (``LINEARIZATION_IDENTITY``), so the returned matrix applies to linear RGB.
    """
    encoded_reference = np.where(reference <= 0.0031308, 12.92 * reference,
                                 1.055 * np.power(np.clip(reference, 0, None), 1 / 2.4) - 0.055)
    src = np.clip(measured, 0, 1).astype(np.float64).reshape(-1, 1, 3)
    ref = np.clip(encoded_reference, 0, 1).astype(np.float64).reshape(-1, 1, 3)
    model = cv2.ccm.ColorCorrectionModel(src, ref, cv2.ccm.COLOR_SPACE_SRGB)
    model.setCcmType(cv2.ccm.CCM_LINEAR)
    model.setDistance(cv2.ccm.DISTANCE_CIE2000)
    model.setLinearization(cv2.ccm.LINEARIZATION_IDENTITY)
    model.setInitialMethod(cv2.ccm.INITIAL_METHOD_LEAST_SQUARE)
    if weights is not None:
        model.setWeightsList(np.asarray(weights, np.float64).reshape(-1, 1))
    model.compute()
    return np.asarray(model.getColorCorrectionMatrix(), float).T


def fit_white_balance(measured: np.ndarray, reference: np.ndarray, weights: np.ndarray | None = None, *,
                      neutral: np.ndarray | None = None) -> np.ndarray:
    """Diagonal 3x3 of per-channel gains: weighted least squares of the grey patches (all
    patches when none is marked grey) onto their reference."""
    measured = np.asarray(measured, float)
    weights = patch_weights(reference, None, 1.0) if weights is None else np.asarray(weights, float)
    greys = np.asarray(neutral, bool) if neutral is not None and np.any(neutral) else np.ones(len(measured), bool)
    gains = (weights[greys, None] * measured[greys] * reference[greys]).sum(axis=0) / np.clip(
        (weights[greys, None] * measured[greys] ** 2).sum(axis=0), 1e-12, None)
    return np.diag(gains)


def _fit_matrix(measured: np.ndarray, reference: np.ndarray, weights: np.ndarray, method: str,
                neutral: np.ndarray | None, ridge: float | None, patch_weight_total: float | None = None) -> np.ndarray:
    if method == "white_balance":
        return fit_white_balance(measured, reference, weights, neutral=neutral)
    if method == "polynomial_ridge":
        return fit_polynomial_ridge(measured, reference, weights, neutral=neutral,
                                    ridge=RIDGE_STRENGTHS[1] if ridge is None else ridge,
                                    patch_weight_total=patch_weight_total)
    fits = {"root_polynomial": fit_root_polynomial, "least_squares": fit_least_squares, "opencv": fit_opencv}
    if method not in fits:
        raise ValueError(f"unknown colour-correction method {method!r}")
    return fits[method](measured, reference, weights)


NEUTRAL_AXIS_LEVELS = (0.05, 0.25, 1.0)
"""Levels at which a linearised grey must stay grey: three points pin the 3x3's row sums and
also the polynomial's squared and cross terms on the neutral axis."""


def _fit_once(measured: np.ndarray, reference: np.ndarray, neutral: np.ndarray, neutral_weight: float, method: str,
              linearisation: str, ridge: float | None) -> tuple[np.ndarray, ToneCurve | None]:
    weights = patch_weights(reference, neutral, neutral_weight)
    if linearisation != "grey_ramp":
        return _fit_matrix(measured, reference, weights, method, neutral, ridge), None
    curve = fit_tone_curve(measured[neutral], reference[neutral]).with_tints(grey_tints(reference[neutral]))
    linear = apply_tone_curve(measured, curve)
    # The curve makes every grey neutral (all channels equal to its luminance). The matrix
    # must keep them so: Finlayson & Drew (1997), "White-point preserving color correction",
    # Proc. IS&T/SID CIC 5. The constraint is imposed as neutral pseudo-patches weighted far
    # above the real ones, mapped to the reference greys' common colour; each grey's own
    # tint is restored after the matrix (ToneCurve tints).
    axis = neutral_axis(reference[neutral])
    levels = np.asarray(NEUTRAL_AXIS_LEVELS)[:, None]
    linear = np.vstack([linear, levels * np.ones(3)])
    reference = np.vstack([reference, levels * axis])
    total = weights.sum()
    weights = np.concatenate([weights, np.full(len(levels), 1e4 * total)])
    neutral = np.concatenate([neutral, np.ones(len(levels), bool)])
    return _fit_matrix(linear, reference, weights, method, neutral, ridge, total), curve


def fit_correction(measured: np.ndarray, reference: np.ndarray, *, method: str, neutral: np.ndarray | None = None,
                   neutral_weight: float = 1.0, linearisation: str = "srgb", ridge: float | None = None
                   ) -> ColourCorrection:
    """Fit one colour-correction model to the valid patches.

    Parameters
    ----------
    measured : numpy.ndarray
        ``(N, 3)`` sRGB-decoded camera RGB of the patches used.
    reference : numpy.ndarray
        ``(N, 3)`` reference linear RGB of the same patches.
    method : {"root_polynomial", "least_squares", "polynomial_ridge", "white_balance", "opencv"}
    neutral : numpy.ndarray, optional
        Bool per patch: which are grey.
    neutral_weight : float
        Extra weight of the grey patches in the fit.
    linearisation : {"srgb", "grey_ramp"}
        Fit on the sRGB-decoded values, or first undo the camera's tone curve measured on the
        grey patches (needs at least three).
    ridge : float, optional
        Penalty of ``polynomial_ridge`` (default the middle of ``RIDGE_STRENGTHS``).

    Returns
    -------
    ColourCorrection
    """
    measured = np.asarray(measured, float)
    neutral = np.zeros(len(measured), bool) if neutral is None else np.asarray(neutral, bool)
    matrix, curve = _fit_once(measured, np.asarray(reference, float), neutral, neutral_weight, method,
                              linearisation, ridge)
    return ColourCorrection(matrix, method, len(measured), curve,
                            (RIDGE_STRENGTHS[1] if ridge is None else ridge) if method == "polynomial_ridge" else None)


def _candidates(methods: tuple[str, ...], greys: int) -> list[tuple[str, str, float | None]]:
    # A grey ramp is cross-validated by leaving out one of its greys: it needs one to spare.
    linearisations = LINEARISATIONS if greys > MIN_GREYS else ("srgb",)
    return [(method, linearisation, ridge) for linearisation in linearisations for method in methods
            for ridge in (RIDGE_STRENGTHS if method == "polynomial_ridge" else (None,))]


def _preference(candidate: Candidate) -> tuple[int, float]:
    return (0 if candidate.linearisation == "grey_ramp" else 1, candidate.expected_delta_e00)


def choose_correction(measured: np.ndarray, reference: np.ndarray, *, neutral: np.ndarray, neutral_weight: float,
                      methods: tuple[str, ...] = AUTO_METHODS) -> ColourCorrection:
    """Choose the colour-correction model by leave-one-patch-out cross-validation.

    Every candidate (each model of ``methods`` with and without the grey-ramp linearisation,
    each ridge strength of ``polynomial_ridge``) is fitted N times, each time without one
    patch, and predicts that patch. Among the candidates whose mean CIEDE2000 on the
    held-out patches is within one standard error of the lowest, a grey-ramp candidate is
    preferred, then the lowest; it is fitted to all patches and its held-out mean is its
    expected error. When that error is not below the uncorrected patches' mean CIEDE2000,
    the correction is withheld: an identity matrix, ``method="none"``, and the reason in
    ``withheld``.

    Cross-validation for model choice follows Stone (1974), "Cross-validatory choice and
    assessment of statistical predictions", JRSS B 36(2).

    Parameters
    ----------
    measured, reference, neutral, neutral_weight
        As for :func:`fit_correction`.
    methods : tuple of str
        Models to choose among (default ``AUTO_METHODS``).

    Returns
    -------
    ColourCorrection
    """
    measured = np.asarray(measured, float)
    reference = np.asarray(reference, float)
    neutral = np.asarray(neutral, bool)
    reference_lab = lab_d50_from_linear_srgb(reference)
    uncorrected = float(np.mean(delta_e2000(lab_d50_from_linear_srgb(np.clip(measured, 0, 1)), reference_lab)))
    tried: list[Candidate] = []
    for method, linearisation, ridge in _candidates(tuple(methods), int(neutral.sum())):
        predicted = np.empty_like(reference)
        for held_out in range(len(measured)):
            keep = np.arange(len(measured)) != held_out
            try:
                matrix, curve = _fit_once(measured[keep], reference[keep], neutral[keep], neutral_weight, method,
                                          linearisation, ridge)
            except (ValueError, np.linalg.LinAlgError):
                break
            predicted[held_out] = apply_correction(measured[held_out:held_out + 1], matrix, curve)[0]
        else:
            errors = delta_e2000(lab_d50_from_linear_srgb(predicted), reference_lab)
            tried.append(Candidate(method, linearisation, ridge, round(float(np.mean(errors)), 3),
                                   round(float(np.std(errors, ddof=1) / np.sqrt(len(errors))), 3)))
    if not tried:
        raise ValueError("no colour-correction model could be fitted to these patches")
    lowest = min(tried, key=lambda c: c.expected_delta_e00)
    # One-standard-error rule (Breiman et al. 1984, "Classification and Regression Trees",
    # 3.4.3): differences within one standard error of the lowest held-out error are chance,
    # so among those candidates the grey ramp is preferred (it keeps greys neutral, which the
    # clinic's check requires), then the lowest held-out error.
    close = [c for c in tried if c.expected_delta_e00 <= lowest.expected_delta_e00 + lowest.standard_error]
    best = min(close, key=_preference)
    # Never worse than no correction. (Not "better by more than chance": the greys of an
    # uncorrected photo are off neutral, and a follow-up is only comparable with its baseline
    # once both are balanced, even where colour accuracy gains little.)
    if best.expected_delta_e00 >= round(uncorrected, 3):
        return ColourCorrection(np.eye(3), "none", len(measured), None, None, uncorrected, tuple(tried),
                                f"no model predicts held-out patches better than the uncorrected photo "
                                f"(ΔE00 {best.expected_delta_e00:.2f} vs {uncorrected:.2f} uncorrected)")
    matrix, curve = _fit_once(measured, reference, neutral, neutral_weight, best.method, best.linearisation,
                              best.ridge)
    return ColourCorrection(matrix, best.method, len(measured), curve, best.ridge, best.expected_delta_e00,
                            tuple(tried))


def apply_correction(linear: np.ndarray, matrix: np.ndarray, tone_curve: ToneCurve | None = None) -> np.ndarray:
    """Apply a correction to sRGB-decoded linear RGB ``(..., 3)``: the tone curve (if any),
    then the 3x3, 3x6 (root-polynomial) or 3x9 (polynomial) matrix; clipped to ``[0, 1]``."""
    matrix = np.asarray(matrix, np.float32)
    linear = apply_tone_curve(linear, tone_curve) if tone_curve is not None else linear
    corrected = _terms(linear, matrix.shape[1]) @ matrix.T
    if tone_curve is not None:
        corrected = apply_tints(corrected, tone_curve)
    return np.clip(corrected, 0.0, 1.0)
