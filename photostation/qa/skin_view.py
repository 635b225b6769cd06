"""The scalp without its hair, for registration: what stays between visits.

Long hair lies differently at every visit and clipped hair grows, so features on hair
shafts match a geometry that is not the scalp's. Registration should rest on what the
scalp keeps: skin texture, follicle openings, pigment, vessels, a tattoo dot. This module
finds the hair in a grey copy (dark lines narrower than a few hair widths: a black top-hat,
Soille 2003, ch. 4, with the structuring element sized from the photo's own hair width),
fills it from the skin around it (normalised convolution, Knutsson & Westin 1993) and says
where features may be taken: on skin, away from any hair.

Only close-ups need it: where hair is under ~2.5 px wide on the copy (a global view), hair
is texture, not lines, and :func:`skin_view` returns ``None``.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SHAFT_LEVEL = 0.25
"""A hair pixel is at least this much darker (relative) than the closing around it: the same
limit as the trichoscopy detector's ``MIN_SHAFT_LEVEL`` (skin varies by less; a pigmented
shaft is 30-80 % darker)."""
MIN_HAIR_WIDTH_PX = 2.5
"""Below this median line width on the copy, hair is not masked (a global view)."""


@dataclass(frozen=True)
class SkinView:
    """A grey copy with its hair filled from the skin, and where features may be taken."""

    grey: np.ndarray
    """uint8, the copy with hair pixels replaced by the skin around them."""
    keypoint_mask: np.ndarray
    """uint8, 255 on skin at least half a hair width from any hair, else 0 (a keypoint's
    descriptor window may reach over filled hair: the fill is smooth and carries no
    features of its own)."""
    hair: np.ndarray
    """bool, the hair found (before the margin)."""
    hair_width_px: float
    """Median width of the dark lines, in the copy's pixels."""

    @property
    def skin_share(self) -> float:
        """Share of the copy where features may be taken."""
        return float(np.count_nonzero(self.keypoint_mask)) / self.keypoint_mask.size


def _disk(radius: float) -> np.ndarray:
    r = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _dark_lines(grey: np.ndarray, radius: float) -> np.ndarray:
    closed = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, _disk(radius))
    return (1.0 - grey / np.maximum(closed, 1.0)) > SHAFT_LEVEL


def hair_line_width_px(grey: np.ndarray) -> float:
    """Typical width (px) of the dark lines of a grey uint8 image: twice the distance to the
    background along their skeleton, its lower quartile (where shafts lie side by side or
    cross, the skeleton runs through wider dark areas). 0 when there are none."""
    g = np.asarray(grey, np.float32)
    dark = _dark_lines(g, max(8.0, max(g.shape) / 40.0))
    # No lines (nothing dark), or no background to measure a width against (all dark).
    if dark.mean() < 0.005 or dark.mean() > 0.98:
        return 0.0
    dark8 = dark.astype(np.uint8)
    dist = cv2.distanceTransform(dark8, cv2.DIST_L2, 3)
    skeleton = cv2.ximgproc.thinning(dark8 * 255) > 0
    values = dist[skeleton]
    return float(2.0 * np.percentile(values, 25)) if values.size else 0.0


def skin_view(grey: np.ndarray) -> SkinView | None:
    """The copy with its hair filled, and where to take features.

    Parameters
    ----------
    grey : numpy.ndarray
        uint8 grey copy (the one features are detected on).

    Returns
    -------
    SkinView or None
        ``None`` when the copy shows no hair lines at least ``MIN_HAIR_WIDTH_PX`` wide.
    """
    width = hair_line_width_px(grey)
    if width < MIN_HAIR_WIDTH_PX:
        return None
    g = np.asarray(grey, np.float32)
    # A disk 2.5 hair widths across closes every shaft (and crossings of two) but leaves
    # wider dark structures (moles, a tattoo dot) as they are: those stay put.
    hair = _dark_lines(g, 1.25 * width)
    # Skin around hair is blurred and shadowed by it: a margin of half a width.
    grown = cv2.dilate(hair.astype(np.uint8), _disk(max(1.0, 0.5 * width))) > 0
    skin = (~grown).astype(np.float32)
    sigma = 2.0 * width
    weight = cv2.GaussianBlur(skin, (0, 0), sigma)
    filled = cv2.GaussianBlur(g * skin, (0, 0), sigma) / np.maximum(weight, 1e-3)
    out = np.where(grown, filled, g)
    return SkinView(np.clip(out, 0, 255).astype(np.uint8), (~grown).astype(np.uint8) * 255, hair, width)
