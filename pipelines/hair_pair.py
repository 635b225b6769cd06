"""The hairs of a registered baseline and follow-up close-up, counted in their common area and
matched one to one: which hairs are in both photos, lost or new.

Both photos are counted by the same detector as ``photostation measure``
(:func:`pipelines.trichoscopy.count_hairs`), each in its own pixels and at its own scale
(the follow-up's from the registration's magnification), over the common area only. Each
follow-up hair is then mapped into the baseline and paired with the baseline's hairs by
:func:`pipelines.matching.match_hairs`. Hairs are paired on the middle of their visible
shaft, not on the point reported as the root: which end of a clipped stub grows from the
skin is not known, and a rotated follow-up may pick the other end.

Change measured on matched hairs of registered photos is far more precise than the
difference of two separate counts (Bokhari et al. 2022), because a detector's misses that
repeat in both photos cancel.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from photostation.qa.registration import jacobian
from pipelines.matching import HairMatching, match_hairs
from pipelines.trichoscopy import HairCount, count_hairs

COUNT_RELATIVE_ERROR = 0.17
"""The detector's typical relative error of a count (median absolute relative error on the
FDU trichoscopy ``train`` split, benchmarks/real_trichoscopy.py: 16.7 % over 727 frames). A detector that misses or
adds a share of the hairs in both photos scales a true change by that share, so a change's
interval is at least this wide relative to the change itself."""


@dataclass(frozen=True)
class HairPair:
    """Result; points in baseline pixels unless said otherwise."""

    baseline: HairCount
    """The baseline's hairs (baseline pixels)."""
    followup: HairCount
    """The follow-up's hairs (follow-up pixels, its own scale)."""
    baseline_in: np.ndarray
    """Bool per baseline hair: its root lies in the common area."""
    followup_in: np.ndarray
    """Bool per follow-up hair: its root, mapped into the baseline, lies in the common area."""
    matching: HairMatching
    """Matching of the selected hairs (in the order of ``baseline_in`` / ``followup_in``)."""
    magnification: float
    """Baseline pixels per follow-up pixel at the follow-up frame's centre (<1: the follow-up
    was taken closer); the follow-up's scale is the baseline's times this."""
    followup_mask_in_baseline: np.ndarray = field(repr=False)


def points_in(points: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Bool per ``(x, y)`` point: does its nearest pixel lie in the mask (False outside it)?"""
    h, w = mask.shape
    p = np.round(np.asarray(points, float)).astype(int).reshape(-1, 2)
    inside = (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
    out = np.zeros(len(p), bool)
    out[inside] = mask[p[inside, 1], p[inside, 0]]
    return out


def map_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``(N, 2)`` points through a 3x3 homography."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    if len(points) == 0:
        return np.zeros((0, 2))
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2), matrix).reshape(-1, 2)


def magnification_of(matrix: np.ndarray, shape: tuple[int, ...]) -> float:
    """Baseline pixels per follow-up pixel at the follow-up frame's centre (sqrt of the
    homography's Jacobian determinant)."""
    h, w = shape[:2]
    return float(np.sqrt(abs(np.linalg.det(jacobian(matrix, ((w - 1) / 2.0, (h - 1) / 2.0))))))


def shaft_middles(count: HairCount) -> np.ndarray:
    """``(N, 2)`` middle of each hair's visible shaft: a shaft piece's root lies a quarter
    along it, a fine hair's at its end."""
    if not count.hairs:
        return np.zeros((0, 2))
    root = np.array([h.root for h in count.hairs], float)
    tip = np.array([h.tip for h in count.hairs], float)
    fine = np.array([h.fine for h in count.hairs], bool)
    return np.where(fine[:, None], (root + tip) / 2.0, root + (tip - root) / 3.0)


def match_pair_hairs(baseline_rgb: np.ndarray, followup_rgb: np.ndarray, followup_to_baseline: np.ndarray,
                     common: np.ndarray, mm_per_px: float, *, gate_widths: float) -> HairPair:
    """Count the hairs of a registered pair in their common area and match them.

    Parameters
    ----------
    baseline_rgb, followup_rgb : numpy.ndarray
        ``(H, W, 3)`` photos as decoded (8-bit or [0, 1] float RGB).
    followup_to_baseline : numpy.ndarray
        3x3 homography from follow-up to baseline pixels.
    common : numpy.ndarray
        Bool mask (baseline pixels) of the area both photos show.
    mm_per_px : float
        Scale of the baseline.
    gate_widths : float
        Largest distance between paired hairs, in terminal shaft widths (the protocol's
        ``density.match_gate_widths``).

    Returns
    -------
    HairPair
    """
    common = np.asarray(common, bool)
    h, w = common.shape
    fh, fw = followup_rgb.shape[:2]
    magnification = magnification_of(followup_to_baseline, followup_rgb.shape)
    to_follow = np.linalg.inv(followup_to_baseline)
    common_in_follow = cv2.warpPerspective(common.astype(np.uint8), to_follow, (fw, fh),
                                           flags=cv2.INTER_NEAREST).astype(bool)
    base = count_hairs(baseline_rgb, mm_per_px, region=common)
    follow = count_hairs(followup_rgb, mm_per_px * magnification, region=common_in_follow)
    base_mid, follow_mid = shaft_middles(base), map_points(shaft_middles(follow), followup_to_baseline)
    base_tip = np.array([x.tip for x in base.hairs], float).reshape(-1, 2)
    follow_tip = map_points(np.array([x.tip for x in follow.hairs], float), followup_to_baseline)
    base_in = points_in(base.roots_px, common)
    follow_in = points_in(map_points(follow.roots_px, followup_to_baseline), common)
    follow_mask = cv2.warpPerspective(follow.mask.astype(np.uint8), followup_to_baseline, (w, h),
                                      flags=cv2.INTER_NEAREST).astype(bool)
    matching = match_hairs(base_mid[base_in], base_tip[base_in], np.ones(int(base_in.sum()), int),
                           follow_mid[follow_in], follow_tip[follow_in], np.ones(int(follow_in.sum()), int),
                           gate_px=gate_widths * base.shaft_width_px, base_mask=base.mask,
                           follow_mask_in_base=follow_mask)
    return HairPair(base, follow, base_in, follow_in, matching, magnification, follow_mask)
