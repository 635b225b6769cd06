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
ESTIMATE_SIDE = 800
"""The hair width is estimated on a copy with at most this longest side."""
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
    # Morphology on 8-bit values is several times faster than on floats, and exact here.
    closed = cv2.morphologyEx(np.clip(grey, 0, 255).astype(np.uint8), cv2.MORPH_CLOSE, _disk(radius))
    return (1.0 - grey / np.maximum(closed.astype(np.float32), 1.0)) > SHAFT_LEVEL


def hair_line_width_px(grey: np.ndarray) -> float:
    """Typical width (px) of the dark lines of a grey uint8 image: twice the distance to the
    background along their skeleton, its lower quartile (where shafts lie side by side or
    cross, the skeleton runs through wider dark areas). 0 when there are none."""
    g = np.asarray(grey, np.float32)
    # The width is a statistic of the whole frame: a copy of at most ESTIMATE_SIDE px gives
    # it at a fraction of the cost of thinning a large mask.
    factor = min(1.0, ESTIMATE_SIDE / max(g.shape))
    if factor < 1.0:
        g = cv2.resize(g, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    dark = _dark_lines(g, max(8.0, max(g.shape) / 40.0))
    # No lines (nothing dark), or no background to measure a width against (all dark).
    if dark.mean() < 0.005 or dark.mean() > 0.98:
        return 0.0
    dark8 = dark.astype(np.uint8)
    dist = cv2.distanceTransform(dark8, cv2.DIST_L2, 3)
    skeleton = cv2.ximgproc.thinning(dark8 * 255) > 0
    values = dist[skeleton]
    return float(2.0 * np.percentile(values, 25)) / factor if values.size else 0.0


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
    # The fill is smooth (a blur of 2 widths): computed on a quarter-size copy, it costs a
    # sixteenth and differs by less than a grey level.
    sigma = 2.0 * width
    q = 0.25 if sigma >= 8.0 else 1.0
    small = (lambda a: cv2.resize(a, None, fx=q, fy=q, interpolation=cv2.INTER_AREA)) if q < 1 else (lambda a: a)
    weight = cv2.GaussianBlur(small(skin), (0, 0), sigma * q)
    filled = cv2.GaussianBlur(small(g * skin), (0, 0), sigma * q) / np.maximum(weight, 1e-3)
    if q < 1:
        filled = cv2.resize(filled, (g.shape[1], g.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = np.where(grown, filled, g)
    return SkinView(np.clip(out, 0, 255).astype(np.uint8), (~grown).astype(np.uint8) * 255, hair, width)
