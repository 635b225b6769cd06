"""Colour correction: a matrix that maps the camera's linear RGB of the card's patches onto
their reference colours, then applied to whole photos.

Three fits are available:

``root_polynomial`` (default)
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

The benchmark (benchmarks/calibration.py) compares both on spectral renders.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

METHODS = ("root_polynomial", "least_squares", "opencv")


@dataclass(frozen=True)
class ColourCorrection:
    matrix: np.ndarray
    """3x3 (on ``r, g, b``) or 3x6 (on the root-polynomial terms): corrected = matrix @ terms."""
    method: str
    patches_used: int


def root_polynomial_terms(rgb: np.ndarray) -> np.ndarray:
    """``(..., 6)`` second-order root-polynomial terms ``r, g, b, sqrt(rg), sqrt(gb), sqrt(rb)``."""
    rgb = np.clip(np.asarray(rgb, np.float32), 0.0, None)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.stack([r, g, b, np.sqrt(r * g), np.sqrt(g * b), np.sqrt(r * b)], axis=-1)


def patch_weights(reference: np.ndarray, neutral: np.ndarray | None, neutral_weight: float) -> np.ndarray:
    """Per-patch fit weights: inverse reference luminance (dark patches count as much as light
    ones), times ``neutral_weight`` on the grey patches so that the correction keeps greys grey."""
    weights = 1.0 / np.clip(reference @ np.array([0.2126, 0.7152, 0.0722]), 0.02, None)
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


def fit_correction(measured: np.ndarray, reference: np.ndarray, *, method: str, neutral: np.ndarray | None = None,
                   neutral_weight: float = 1.0) -> ColourCorrection:
    """Fit a colour correction from the valid patches.

    Parameters
    ----------
    measured : numpy.ndarray
        ``(N, 3)`` camera linear RGB of the patches used.
    reference : numpy.ndarray
        ``(N, 3)`` reference linear RGB of the same patches.
    method : {"root_polynomial", "least_squares", "opencv"}
    neutral : numpy.ndarray, optional
        Bool per patch: which are grey.
    neutral_weight : float
        Extra weight of the grey patches in the fit.

    Returns
    -------
    ColourCorrection
    """
    fits = {"root_polynomial": fit_root_polynomial, "least_squares": fit_least_squares, "opencv": fit_opencv}
    if method not in fits:
        raise ValueError(f"unknown colour-correction method {method!r}")
    weights = patch_weights(reference, neutral, neutral_weight)
    return ColourCorrection(fits[method](measured, reference, weights), method, len(measured))


def apply_correction(linear: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 3x3 or 3x6 (root-polynomial) correction to linear RGB ``(..., 3)``, clipped to ``[0, 1]``."""
    matrix = np.asarray(matrix, np.float32)
    terms = np.asarray(linear, np.float32) if matrix.shape[1] == 3 else root_polynomial_terms(linear)
    return np.clip(terms @ matrix.T, 0.0, 1.0)
