"""Reading the patches of a detected card: the mean linear colour inside each patch, and
which patches cannot be trusted (out of frame, clipped, not uniform), each with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class PatchReadings:
    means: np.ndarray
    """``(N, 3)`` mean linear RGB of each patch (NaN where excluded)."""
    excluded: dict[int, str]
    """Patch index -> why it was left out of the fit."""

    @property
    def valid(self) -> np.ndarray:
        mask = np.ones(len(self.means), bool)
        mask[list(self.excluded)] = False
        return mask


def read_patches(linear: np.ndarray, saturated: np.ndarray, quads_px: np.ndarray, *, shrink: float,
                 max_clipped_share: float, max_variation: float, min_pixels: int) -> PatchReadings:
    """Mean colour of each patch inside its quadrilateral, shrunk towards its centre.

    Parameters
    ----------
    linear : numpy.ndarray
        ``(H, W, 3)`` linear RGB.
    saturated : numpy.ndarray
        ``(H, W)`` bool, pixels with a channel at the top code value.
    quads_px : numpy.ndarray
        ``(N, 4, 2)`` patch corners in image pixels.
    shrink : float
        Keep this fraction of each patch (around its centre), away from edges and gaps.
    max_clipped_share : float
        A patch with more clipped pixels than this share is overexposed.
    max_variation : float
        A patch whose luminance varies more than this (coefficient of variation) is not
        uniform: covered by hair, a reflection or a shadow.
    min_pixels : int
        Fewer pixels than this: the patch is too small in the frame to read.

    Returns
    -------
    PatchReadings
    """
    h, w = linear.shape[:2]
    means = np.full((len(quads_px), 3), np.nan)
    excluded: dict[int, str] = {}
    for index, quad in enumerate(np.asarray(quads_px, float)):
        centre = quad.mean(axis=0)
        inner = centre + (quad - centre) * shrink
        if (quad[:, 0] < 0).any() or (quad[:, 1] < 0).any() or (quad[:, 0] > w - 1).any() or (quad[:, 1] > h - 1).any():
            excluded[index] = "outside the frame"
            continue
        x0, y0 = np.floor(inner.min(axis=0)).astype(int)
        x1, y1 = np.ceil(inner.max(axis=0)).astype(int) + 1
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(inner - (x0, y0)).astype(np.int32), 1)
        inside = mask.astype(bool)
        if inside.sum() < min_pixels:
            excluded[index] = "too small in the frame"
            continue
        pixels = linear[y0:y1, x0:x1][inside]
        if saturated[y0:y1, x0:x1][inside].mean() > max_clipped_share:
            excluded[index] = "overexposed (clipped)"
            continue
        luminance = pixels @ np.array([0.2126, 0.7152, 0.0722])
        if luminance.mean() > 0 and luminance.std() / luminance.mean() > max_variation:
            excluded[index] = "not uniform (covered or reflecting)"
            continue
        means[index] = pixels.mean(axis=0)
    return PatchReadings(means, excluded)
