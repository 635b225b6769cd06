"""Colour correction: a matrix that maps the camera's linear RGB of the card's patches onto
their reference colours, then applied to whole photos.

Two fits are available:

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

METHODS = ("least_squares", "opencv")


@dataclass(frozen=True)
class ColourCorrection:
    matrix: np.ndarray
    """3x3: corrected = matrix @ camera (column vectors of linear RGB)."""
    method: str
    patches_used: int


def fit_least_squares(measured: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Weighted least-squares 3x3 matrix from measured to reference linear RGB."""
    weights = 1.0 / np.clip(reference @ np.array([0.2126, 0.7152, 0.0722]), 0.02, None)
    sw = np.sqrt(weights)[:, None]
    solution, *_ = np.linalg.lstsq(measured * sw, reference * sw, rcond=None)
    return solution.T


def fit_opencv(measured: np.ndarray, reference: np.ndarray) -> np.ndarray:
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
    model.compute()
    return np.asarray(model.getColorCorrectionMatrix(), float).T


def fit_correction(measured: np.ndarray, reference: np.ndarray, *, method: str) -> ColourCorrection:
    """Fit a colour correction from the valid patches.

    Parameters
    ----------
    measured : numpy.ndarray
        ``(N, 3)`` camera linear RGB of the patches used.
    reference : numpy.ndarray
        ``(N, 3)`` reference linear RGB of the same patches.
    method : {"least_squares", "opencv"}

    Returns
    -------
    ColourCorrection
    """
    if method not in METHODS:
        raise ValueError(f"unknown colour-correction method {method!r}")
    matrix = fit_least_squares(measured, reference) if method == "least_squares" else fit_opencv(measured, reference)
    return ColourCorrection(matrix, method, len(measured))


def apply_correction(linear: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 3x3 correction to linear RGB (``(..., 3)``), clipped to ``[0, 1]``."""
    corrected = np.asarray(linear, np.float32) @ np.asarray(matrix, np.float32).T
    return np.clip(corrected, 0.0, 1.0)
