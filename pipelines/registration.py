"""Registration of a follow-up photo to its baseline, refined to sub-pixel accuracy.

Coarse: SIFT on small copies with a robust homography (``photostation.qa.registration``,
the same step the photographer's check uses). Refined: SIFT on larger copies, matches kept
only where the coarse homography predicts them (guided matching, Hartley & Zisserman 2004,
sec. 4.8), and a least-squares homography on the inliers of a second robust fit: hundreds of
well-spread correspondences at higher resolution pin the mapping to a fraction of a pixel.
On close-ups only skin carries features (:mod:`photostation.qa.skin_view`): hair grows and
moves between visits. The result is then checked by other means: the registered photos' skin
tiles are compared by phase correlation (:mod:`pipelines.alignment`), and a registration
they do not confirm within ``MAX_TILE_SHIFT_PX`` is not trusted.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

from photostation.protocol import RegistrationRules
from photostation.qa.registration import Registration, feature_grey, overlap_pct, register
from photostation.qa.skin_view import skin_view
from pipelines.alignment import AlignmentCheck, check_alignment

MIN_CONFIRMING_TILES = 8
"""Tiles with a clear correlation peak needed to confirm a registration."""
MAX_TILE_SHIFT_PX = 1.5
"""Median tile shift above which a registration is not trusted (input pixels): half the 3 px
a comparable pair may be off. On seven rendered pairs at 1600x1200 (close-ups and crowns) the
true registration reads 0.16-0.46 px, the same moved by 1 px 0.78-1.10 px, by 3 px 2.27-2.87 px
and by 8.6 px 8.2-8.4 px (pipelines.alignment, 64 px tiles on a 1000 px copy)."""
CHECK_SIDE_PX = 1000
"""Longest side of the copies the tile check runs on: on one core it costs 0.05 s for a crown
and 0.2 s for a close-up (skin found and filled), a quarter of a 1600 px copy's."""


@dataclass(frozen=True)
class PairRegistration:
    """Follow-up -> baseline registration in the pixels of the images given."""

    matrix: np.ndarray | None
    inliers: int
    residual_px: float | None
    """RMS reprojection error of the refined fit's inliers (baseline pixels)."""
    overlap_pct: float
    trustworthy: bool
    reason: str | None = None
    on_skin: bool = False
    """Features were taken on skin only, the hair masked out (:mod:`photostation.qa.skin_view`):
    the inliers and residual are the skin's."""
    alignment: AlignmentCheck | None = None
    """The independent tile check of the result (:mod:`pipelines.alignment`)."""


def register_pair(followup: np.ndarray, baseline: np.ndarray, rules: RegistrationRules, *, refine_side: int,
                  max_residual_px: float, refine_features: int = 6000,
                  coarse: Registration | None = None, skin_only: bool = True) -> PairRegistration:
    """Register a follow-up image onto its baseline.

    Parameters
    ----------
    followup, baseline : numpy.ndarray
        Grey or RGB images (any scale); the matrix refers to their pixels.
    rules : RegistrationRules
        Coarse step's parameters (protocol ``[qa.registration]``).
    refine_side : int
        Longest side of the copies for the refinement (0 = no refinement).
    max_residual_px : float
        A refined residual above this (in baseline pixels) is not trustworthy.
    refine_features : int
        SIFT features per image of the refinement.
    coarse : Registration, optional
        The coarse step when already done on other copies of the same photos (the shot
        checks register the pair too), its matrix brought to these images' pixels.
    skin_only : bool
        Close-ups: features on skin only (:func:`photostation.qa.registration.register`);
        ``False`` for global views.

    Returns
    -------
    PairRegistration
    """
    coarse = coarse or register(np.sqrt(np.clip(followup, 0, None)), np.sqrt(np.clip(baseline, 0, None)),
                      work_side=rules.work_side_px, max_features=rules.max_features, ratio=rules.ratio,
                      ransac_px=rules.ransac_px, min_inliers=rules.min_inliers,
                      min_inlier_share=rules.min_inlier_share, min_overlap_pct=rules.min_overlap_pct,
                      max_scale_change=rules.max_scale_change, skin_only=skin_only)
    if not coarse.ok:
        return PairRegistration(None, coarse.inliers, None, coarse.overlap_pct, False, coarse.reason, coarse.on_skin)
    matrix, inliers, residual = coarse.matrix, coarse.inliers, coarse.residual_px
    if refine_side > 0:
        refined = _refine(followup, baseline, coarse.matrix, refine_side, rules, refine_features, coarse.on_skin)
        if refined is not None:
            matrix, inliers, residual = refined
    h, w = followup.shape[:2]
    overlap = overlap_pct(matrix, (w, h), (baseline.shape[1], baseline.shape[0]))
    if residual is not None and residual > max_residual_px:
        return PairRegistration(matrix, inliers, round(residual, 3), overlap, False,
                                f"registration residual {residual:.2f} px above {max_residual_px:g} px", coarse.on_skin)
    residual = None if residual is None else round(residual, 3)
    # The fit's residual says how well its points agree, not whether they are the right
    # points: the tiles of the two photos are compared again, by other means.
    check = check_alignment(followup, baseline, matrix, side=CHECK_SIDE_PX, on_skin=coarse.on_skin)
    if check.tiles < MIN_CONFIRMING_TILES:
        return PairRegistration(matrix, inliers, residual, overlap, False,
                                f"the registration cannot be confirmed: only {check.tiles} tiles of skin with texture "
                                f"in both photos (at least {MIN_CONFIRMING_TILES})", coarse.on_skin, check)
    if check.median_shift_px > MAX_TILE_SHIFT_PX:
        return PairRegistration(matrix, inliers, residual, overlap, False,
                                f"the registration is off: the photos' tiles still differ by {check.median_shift_px:.1f} px "
                                f"(median of {check.tiles}; at most {MAX_TILE_SHIFT_PX:g} px)", coarse.on_skin, check)
    return PairRegistration(matrix, inliers, residual, overlap, True, on_skin=coarse.on_skin, alignment=check)


def _refine(followup: np.ndarray, baseline: np.ndarray, coarse: np.ndarray, side: int,
            rules: RegistrationRules, features: int, on_skin: bool) -> tuple[np.ndarray, int, float] | None:
    grey_f, sf = feature_grey(np.sqrt(np.clip(followup, 0, None)).astype(np.float32), side)
    grey_b, sb = feature_grey(np.sqrt(np.clip(baseline, 0, None)).astype(np.float32), side)
    masks = [None, None]
    if on_skin:  # as the coarse step: features on skin only (photostation.qa.skin_view)
        views = [skin_view(grey_f), skin_view(grey_b)]
        if views[0] is not None and views[1] is not None:
            (grey_f, masks[0]), (grey_b, masks[1]) = ((v.grey, v.keypoint_mask) for v in views)
    sift = cv2.SIFT_create(nfeatures=features)
    kf, df = sift.detectAndCompute(grey_f, masks[0])
    kb, db = sift.detectAndCompute(grey_b, masks[1])
    if df is None or db is None or len(kf) < rules.min_inliers or len(kb) < rules.min_inliers:
        return None
    pts_f = np.float32([k.pt for k in kf]) / sf
    pts_b = np.float32([k.pt for k in kb]) / sb
    predicted = cv2.perspectiveTransform(pts_f.reshape(-1, 1, 2), coarse).reshape(-1, 2)
    # Guided matching: among the baseline features near the predicted position (a k-d tree
    # finds them), the closest descriptor. Only a few candidates per feature are compared,
    # instead of every descriptor with every other.
    near = cKDTree(pts_b).query_ball_point(predicted, r=6.0 / sb)
    src, dst = [], []
    for i, candidates in enumerate(near):
        if candidates:
            d = np.sum((db[candidates] - df[i]) ** 2, axis=1)
            src.append(pts_f[i])
            dst.append(pts_b[candidates[int(np.argmin(d))]])
    if len(src) < max(rules.min_inliers, 12):
        return None
    src, dst = np.float32(src), np.float32(dst)
    matrix, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, 1.5 / sb, maxIters=5000, confidence=0.999)
    if matrix is None or mask is None or mask.sum() < rules.min_inliers:
        return None
    keep = mask.ravel().astype(bool)
    # Final least-squares fit on all inliers (the robust fit chose them; this averages them).
    matrix, _ = cv2.findHomography(src[keep], dst[keep], 0)
    if matrix is None:
        return None
    matrix = matrix / matrix[2, 2]
    projected = cv2.perspectiveTransform(src[keep].reshape(-1, 1, 2), matrix).reshape(-1, 2)
    residual = float(np.sqrt(np.mean(np.sum((projected - dst[keep]) ** 2, axis=1))))
    return matrix, int(keep.sum()), residual
