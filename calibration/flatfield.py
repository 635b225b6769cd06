"""Flat-field: the station's illumination profile from a shot of a uniform grey target, used
to even out vignetting and uneven lighting in later shots (the classic flat-field
correction of imaging: divide by the normalised response to a uniform target).

The profile is a smooth surface, a 2-D polynomial of degree 4 fitted by least squares to the
log luminance of the target (shading correction by surface fitting, e.g. Likar et al. 2000,
"Retrospective shading correction based on entropy minimization", J. Microscopy 197(3)):
vignetting and light fall-off are smooth, while dust, paper texture and noise are not, and a
fitted surface stays right into the corners where smoothing filters run out of image. It is
stored at low resolution and normalised to 1 at its brightest.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class FlatField:
    gain: np.ndarray
    """``(h, w)`` float32 relative illumination (max 1), at low resolution."""
    ratio: float
    """Max/min of the profile: how uneven the station's light is."""


def _design(height: int, width: int, degree: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    x = (xx.ravel() + 0.5) / width - 0.5
    y = (yy.ravel() + 0.5) / height - 0.5
    return np.stack([x ** i * y ** j for i in range(degree + 1) for j in range(degree + 1 - i)], axis=1)


def fit_flat_field(linear: np.ndarray, *, side_px: int = 64, degree: int = 4) -> FlatField:
    """Illumination profile from a linear-RGB shot of a uniform grey target.

    Parameters
    ----------
    linear : numpy.ndarray
        ``(H, W, 3)`` or ``(H, W)`` linear image of the target filling the frame.
    side_px : int
        Longest side of the stored profile.
    degree : int
        Degree of the fitted polynomial surface.

    Returns
    -------
    FlatField
    """
    y = linear @ np.array([0.2126, 0.7152, 0.0722], np.float32) if linear.ndim == 3 else linear
    h, w = y.shape
    scale = side_px / max(h, w)
    small = cv2.resize(y.astype(np.float32), (max(2, round(w * scale)), max(2, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    design = _design(*small.shape, degree)
    coef, *_ = np.linalg.lstsq(design, np.log(np.clip(small.ravel(), 1e-4, None)), rcond=None)
    surface = np.exp(design @ coef).reshape(small.shape)
    gain = surface / surface.max()
    return FlatField(gain.astype(np.float32), round(float(gain.max() / gain.min()), 4))


def apply_flat_field(linear: np.ndarray, flat: FlatField) -> np.ndarray:
    """Divide a linear image by the station's illumination profile (resized to it)."""
    h, w = linear.shape[:2]
    gain = cv2.resize(flat.gain, (w, h), interpolation=cv2.INTER_CUBIC)
    gain = np.clip(gain, 0.05, None)
    out = linear / (gain[:, :, None] if linear.ndim == 3 else gain)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
