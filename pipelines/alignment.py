"""An independent check of a registration: do the two photos' skin tiles line up?

Feature registration fits one homography to matched points; its residual says how well the
points agree with each other, not whether they are the right points (hair that grew in step,
a repeated pattern). This check measures the alignment again by other means: the registered
follow-up and the baseline are cut into tiles, and the shift between each pair of tiles is
measured by phase correlation (Kuglin & Hines 1975; OpenCV's ``phaseCorrelate``, with a Hann
window). On close-ups the hair is filled from the skin first
(:mod:`photostation.qa.skin_view`), so the tiles compare skin, which stays between visits.
Where the registration is right, the tiles' shifts are near zero; where it is off by a few
pixels, most tiles say by how much.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from photostation.qa.registration import feature_grey
from photostation.qa.skin_view import skin_view

TILE_PX = 64
"""Tile side on the checking copy: large enough for a clear correlation peak on skin texture,
small enough for several tiles in the skin between long hairs (~450 on a 1600 px copy)."""
MIN_RESPONSE = 0.08
"""A tile's correlation peak must reach this (of 1) to count: flat or changed tiles give a
flat surface whose maximum is noise."""
MIN_SKIN_SHARE = 0.2
"""On close-ups, a tile counts when at least this share of it is skin in both photos (the
rest is filled smoothly and adds no peak of its own). On a re-combed long-hair render with
about a quarter of skin, 0.5 left 1-2 tiles and 0.2 left 15, which still read a 3 px offset
as 2.8 px."""


@dataclass(frozen=True)
class AlignmentCheck:
    """Tile shifts between the registered follow-up and the baseline, in input pixels."""

    tiles: int
    """Tiles with a clear correlation peak."""
    median_shift_px: float | None
    p75_shift_px: float | None


def check_alignment(followup: np.ndarray, baseline: np.ndarray, matrix: np.ndarray, *, side: int,
                    on_skin: bool) -> AlignmentCheck:
    """Measure the registration again, tile by tile.

    Parameters
    ----------
    followup, baseline : numpy.ndarray
        Linear luminance of the two photos (the pixels ``matrix`` refers to).
    matrix : numpy.ndarray
        Follow-up -> baseline homography.
    side : int
        Longest side of the checking copies.
    on_skin : bool
        Close-ups: compare skin only, the hair filled.

    Returns
    -------
    AlignmentCheck
        Shifts in baseline input pixels; ``None`` figures when no tile has a clear peak.
    """
    # Grey levels are compared tile by tile: stretched, not equalised (CLAHE would differ
    # between the photos wherever the hair did).
    grey_f, sf = feature_grey(np.sqrt(np.clip(followup, 0, None)).astype(np.float32), side, equalise=False)
    grey_b, sb = feature_grey(np.sqrt(np.clip(baseline, 0, None)).astype(np.float32), side, equalise=False)
    skin_f = skin_b = None
    if on_skin:
        views = skin_view(grey_f), skin_view(grey_b)
        if views[0] is not None and views[1] is not None:
            (grey_f, skin_f), (grey_b, skin_b) = ((v.grey, v.keypoint_mask) for v in views)
    h, w = grey_b.shape
    to_copy = np.diag([sb, sb, 1.0]) @ matrix @ np.diag([1 / sf, 1 / sf, 1.0])
    warped = cv2.warpPerspective(grey_f.astype(np.float32), to_copy, (w, h), flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.full(grey_f.shape, 255, np.uint8), to_copy, (w, h), flags=cv2.INTER_NEAREST) > 0
    skin = np.ones((h, w), bool)
    if skin_f is not None:
        skin = (cv2.warpPerspective(skin_f, to_copy, (w, h), flags=cv2.INTER_NEAREST) > 0) & (skin_b > 0)
    window = cv2.createHanningWindow((TILE_PX, TILE_PX), cv2.CV_32F)
    base = grey_b.astype(np.float32)
    shifts = []
    for y0 in range(0, h - TILE_PX + 1, TILE_PX):
        for x0 in range(0, w - TILE_PX + 1, TILE_PX):
            cut = np.s_[y0:y0 + TILE_PX, x0:x0 + TILE_PX]
            if not inside[cut].all() or skin[cut].mean() < MIN_SKIN_SHARE:
                continue
            (dx, dy), response = cv2.phaseCorrelate(base[cut], warped[cut], window)
            if response >= MIN_RESPONSE:
                shifts.append(float(np.hypot(dx, dy)) / sb)
    if not shifts:
        return AlignmentCheck(0, None, None)
    return AlignmentCheck(len(shifts), round(float(np.median(shifts)), 3), round(float(np.percentile(shifts, 75)), 3))
