"""Flat-field: the station's illumination profile from a shot of a uniform grey target, used
to even out vignetting and uneven lighting in later shots (the classic flat-field
correction of imaging: divide by the normalised response to a uniform target).

The profile is the target's luminance heavily smoothed (dust, texture and noise removed),
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


def fit_flat_field(linear: np.ndarray, *, side_px: int = 64, smoothing: float = 0.08) -> FlatField:
    """Illumination profile from a linear-RGB shot of a uniform grey target.

    Parameters
    ----------
    linear : numpy.ndarray
        ``(H, W, 3)`` or ``(H, W)`` linear image of the target filling the frame.
    side_px : int
        Longest side of the stored profile.
    smoothing : float
        Gaussian smoothing as a fraction of the profile's longest side.

    Returns
    -------
    FlatField
    """
    y = linear @ np.array([0.2126, 0.7152, 0.0722], np.float32) if linear.ndim == 3 else linear
    h, w = y.shape
    scale = side_px / max(h, w)
    small = cv2.resize(y.astype(np.float32), (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    smooth = cv2.GaussianBlur(small, (0, 0), smoothing * side_px, borderType=cv2.BORDER_REFLECT)
    smooth = np.clip(smooth, 1e-4, None)
    gain = smooth / smooth.max()
    return FlatField(gain.astype(np.float32), round(float(gain.max() / gain.min()), 4))


def apply_flat_field(linear: np.ndarray, flat: FlatField) -> np.ndarray:
    """Divide a linear image by the station's illumination profile (resized to it)."""
    h, w = linear.shape[:2]
    gain = cv2.resize(flat.gain, (w, h), interpolation=cv2.INTER_CUBIC)
    gain = np.clip(gain, 0.05, None)
    out = linear / (gain[:, :, None] if linear.ndim == 3 else gain)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
