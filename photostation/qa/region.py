"""The scalp region of a shot: where the measurements are taken.

Trichoscopy close-ups are scalp edge to edge. Global views (crown, frontal, ...) show the
head against a plain studio backdrop: the backdrop is smooth and uniform, the head is
textured (hair) and differs in colour, so the head is what differs from the frame border in
local texture or colour. A border that is smooth but not mostly one colour (a crown filling
the frame: dark hair, a shirt and a wall along the edges) is no backdrop: the whole frame is
taken.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class ScalpRegion:
    mask: np.ndarray
    """Bool mask at the size of the input."""
    share_pct: float
    """Share of the frame covered by the region."""
    backdrop_found: bool
    """False when the frame has no plain backdrop (the whole frame is taken)."""


def _border(values: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([values[:width].reshape(-1, *values.shape[2:]), values[-width:].reshape(-1, *values.shape[2:]),
                           values[:, :width].reshape(-1, *values.shape[2:]), values[:, -width:].reshape(-1, *values.shape[2:])])


def scalp_region(rgb: np.ndarray, *, whole_frame: bool, backdrop_texture_max: float,
                 min_share_pct: float) -> ScalpRegion:
    """Find the scalp/head region of a shot.

    Parameters
    ----------
    rgb : numpy.ndarray
        ``(H, W, 3)`` image, any dtype/scale (linear or encoded).
    whole_frame : bool
        Take the whole frame (trichoscopy close-ups).
    backdrop_texture_max : float
        Local standard deviation (in % of the image's range) below which the frame border is
        a plain backdrop; a busier border means the subject fills the frame.
    min_share_pct : float
        A region smaller than this share of the frame is not trusted; the whole frame is
        taken instead.

    Returns
    -------
    ScalpRegion
    """
    h, w = rgb.shape[:2]
    full = ScalpRegion(np.ones((h, w), bool), 100.0, False)
    if whole_frame or min(h, w) < 32:
        return full
    scale = min(1.0, 320 / max(h, w))
    small = cv2.resize(rgb.astype(np.float32), (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    span = float(np.percentile(small, 99.5) - np.percentile(small, 0.5)) or 1.0
    small = small / span * 100.0
    grey = small.mean(axis=2)
    mean = cv2.blur(grey, (5, 5))
    texture = np.sqrt(np.maximum(cv2.blur(grey * grey, (5, 5)) - mean * mean, 0.0))
    band = max(2, round(0.03 * min(small.shape[:2])))
    # Medians: the head may touch part of the border; most of the border is backdrop.
    border_texture = float(np.median(_border(texture, band)))
    if border_texture > backdrop_texture_max:
        return full
    backdrop = np.median(_border(small, band), axis=0)
    distance = np.linalg.norm(small - backdrop, axis=2)
    near = _border(distance, band) < 3.0 * backdrop_texture_max
    if near.mean() <= 0.5:
        # Most of the border is not one colour: smooth but not a backdrop (dark hair, a
        # shirt and a wall around a crown that fills the frame). Taking the median of such a
        # border as "the backdrop" made the hair background and the bald patch the region.
        return full
    border_distance = float(np.median(_border(distance, band)))
    subject = (texture > max(4.0 * border_texture, 0.2 * backdrop_texture_max)) | \
        (distance > max(4.0 * border_distance, 3.0 * backdrop_texture_max))
    subject = cv2.morphologyEx(subject.astype(np.uint8), cv2.MORPH_CLOSE,
                               cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))).astype(bool)
    labels, count = ndimage.label(subject)
    if count == 0:
        return full
    sizes = ndimage.sum_labels(subject, labels, index=np.arange(1, count + 1))
    largest = ndimage.binary_fill_holes(labels == (int(np.argmax(sizes)) + 1))
    largest = cv2.erode(largest.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))).astype(bool)
    share = 100.0 * float(largest.mean())
    if share < min_share_pct:
        return full
    mask = cv2.resize(largest.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return ScalpRegion(mask, round(share, 2), True)
