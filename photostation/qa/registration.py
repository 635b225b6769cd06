"""Registration of a follow-up shot to its baseline: SIFT features on downscaled copies,
ratio-test matching and a robust homography (MAGSAC++).

SIFT (Lowe 2004, IJCV 60(2)) keypoints on contrast-equalised (CLAHE) grey images are stable
under lighting changes. On close-ups the hair is taken out first
(:mod:`photostation.qa.skin_view`): long hair lies differently at every visit and clipped
hair grows, so only the skin (texture, follicle openings, pigment) carries features, and the
inliers and residual are the skin's. A robust homography (Barath et al. 2020, "MAGSAC++",
CVPR) rejects the rest. Parameters come from the protocol's ``[qa.registration]`` table.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from photostation.qa.pixels import resize_to
from photostation.qa.skin_view import SkinView, skin_view

SKIN_CONTRAST_THRESHOLD = 0.02
"""SIFT's contrast threshold on skin (OpenCV's default 0.04): skin texture is faint, and
with the hair masked out it is all there is to match."""
SKIN_FEATURE_FACTOR = 4
"""Features on skin: this many times ``max_features``. Skin matches are faint and spread over
all response ranks (on long-hair renders the inliers' median rank was ~1,700 of 2,800), so a
budget of the strongest few loses most of them."""
SKIN_SIDE_GROWTH = 2.5
"""A pair that fails is tried again on larger copies (x1.6 each time), up to this many times
the working side."""


@dataclass(frozen=True)
class Registration:
    """Result of registering a follow-up to its baseline.

    ``matrix`` maps follow-up pixel coordinates to baseline pixel coordinates (both at the
    resolution given to :func:`register`); it is ``None`` when registration failed, and then
    ``reason`` says why.
    """

    matrix: np.ndarray | None
    inliers: int
    matches: int
    residual_px: float | None
    """RMS reprojection error of the inliers, in baseline pixels."""
    overlap_pct: float
    """Share of the baseline frame covered by the warped follow-up frame."""
    reason: str | None = None
    on_skin: bool = False
    """Features were taken on skin only (close-ups: the hair masked out)."""

    @property
    def ok(self) -> bool:
        return self.matrix is not None


def feature_grey(image: np.ndarray, side: int, equalise: bool = True) -> tuple[np.ndarray, float]:
    """The uint8 copy features are taken on: longest side ``side``, stretched between the
    0.5 and 99.5 percentiles, contrast-equalised (CLAHE; not with ``equalise=False``, for
    comparing grey levels); and its pixels per input pixel."""
    small, scale = resize_to(image, side)
    if small.ndim == 3:
        small = small.mean(axis=2)
    lo, hi = np.percentile(small, (0.5, 99.5))
    grey = np.clip((small - lo) / max(hi - lo, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    if not equalise:
        return grey, scale
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey), scale


def overlap_pct(matrix: np.ndarray, moving_size: tuple[int, int], fixed_size: tuple[int, int]) -> float:
    """Share of the fixed frame covered by the moving frame mapped through ``matrix``."""
    w, h = moving_size
    corners = np.array([[[0, 0]], [[w - 1, 0]], [[w - 1, h - 1]], [[0, h - 1]]], np.float32)
    mapped = cv2.perspectiveTransform(corners, matrix).reshape(-1, 2)
    fw, fh = fixed_size
    frame = np.array([[0, 0], [fw - 1, 0], [fw - 1, fh - 1], [0, fh - 1]], np.float32)
    if not cv2.isContourConvex(mapped.astype(np.float32)):
        return 0.0
    area, _ = cv2.intersectConvexConvex(mapped.astype(np.float32), frame)
    return round(100.0 * float(area) / float(fw * fh), 2)


def register(moving: np.ndarray, fixed: np.ndarray, *, work_side: int, max_features: int, ratio: float,
             ransac_px: float, min_inliers: int, min_inlier_share: float, min_overlap_pct: float,
             max_scale_change: float, skin_only: bool = True) -> Registration:
    """Register ``moving`` (follow-up) onto ``fixed`` (baseline).

    Parameters
    ----------
    moving, fixed : numpy.ndarray
        Images (grey or RGB, any dtype) at the resolution the matrix should refer to.
    work_side : int
        Longest side of the copies features are detected on.
    max_features : int
        SIFT features per image.
    ratio : float
        Lowe's ratio test threshold.
    ransac_px : float
        Inlier threshold in working pixels.
    min_inliers, min_inlier_share, min_overlap_pct : float
        Below these the pair is reported as not registered.
    max_scale_change : float
        A homography magnifying by more than this factor (or less than its inverse) at the
        image centre is implausible for a repeat shot and is rejected.
    skin_only : bool
        Where hair lines are wide enough to be masked (close-ups), take features on skin only.
        ``False`` for global views: a crown that fills the frame shows strands a few pixels
        wide but little skin between them, and there the head's hair pattern is what registers.

    Returns
    -------
    Registration
    """
    if min(moving.shape[:2]) < 48 or min(fixed.shape[:2]) < 48:
        return Registration(None, 0, 0, None, 0.0, "image too small to register (under 48 px)")
    args = dict(max_features=max_features, ratio=ratio, ransac_px=ransac_px, min_inliers=min_inliers,
                min_inlier_share=min_inlier_share, min_overlap_pct=min_overlap_pct, max_scale_change=max_scale_change,
                skin_only=skin_only)
    result = _register_at(moving, fixed, work_side, **args)
    # Skin between long hairs can be scarce, and on a small copy a close-up's hair may be too
    # thin to be told from skin: a larger copy shows both better. Only pairs that fail pay
    # for it, up to SKIN_SIDE_GROWTH times the working side.
    largest = max(moving.shape[:2] + fixed.shape[:2])
    side = work_side
    while not result.ok and side < min(largest, SKIN_SIDE_GROWTH * work_side):
        side = int(min(largest, side * 1.6))
        result = _register_at(moving, fixed, side, **args)
    return result


def _register_at(moving: np.ndarray, fixed: np.ndarray, work_side: int, *, max_features: int, ratio: float,
                 ransac_px: float, min_inliers: int, min_inlier_share: float, min_overlap_pct: float,
                 max_scale_change: float, skin_only: bool = True) -> Registration:
    """:func:`register` on copies with the longest side ``work_side``."""
    on_skin = False

    def failed(reason: str, inliers: int = 0, matches: int = 0) -> Registration:
        return Registration(None, inliers, matches, None, 0.0, reason, on_skin)

    grey_m, sm = feature_grey(moving.astype(np.float32), work_side)
    grey_f, sf = feature_grey(fixed.astype(np.float32), work_side)
    # One detector per image, run side by side (OpenCV releases the GIL).
    with ThreadPoolExecutor(max_workers=2) as pool:
        view_m, view_f = pool.map(skin_view, (grey_m, grey_f)) if skin_only else (None, None)
        on_skin = view_m is not None and view_f is not None
        if on_skin:
            (km, dm), (kf, df) = pool.map(lambda v: skin_features(v, SKIN_FEATURE_FACTOR * max_features),
                                          (view_m, view_f))
        else:
            (km, dm), (kf, df) = pool.map(
                lambda g: cv2.SIFT_create(nfeatures=max_features).detectAndCompute(g, None), (grey_m, grey_f))
    if dm is None or df is None or len(km) < min_inliers or len(kf) < min_inliers:
        if on_skin:
            return failed(f"too little skin between the hairs to register on ({100 * view_m.skin_share:.0f} % and "
                          f"{100 * view_f.skin_share:.0f} % of the frames)")
        return failed("too little detail to register (blank, blurred or out-of-focus frame)")
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(dm, df, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < ratio * p[1].distance]
    # On a close-up the cause may be the hair, not the scalp: say how much skin there was.
    skin = (f" ({100 * view_m.skin_share:.0f} % and {100 * view_f.skin_share:.0f} % of the frames are skin "
            "clear of hair: if this is the same site, part or clip the hair)") if on_skin else ""
    if len(good) < min_inliers:
        return failed(f"only {len(good)} matching features{skin}: a different scalp region, or the frame is blank",
                      0, len(good))
    src = np.float32([km[m.queryIdx].pt for m in good]) / sm
    dst = np.float32([kf[m.trainIdx].pt for m in good]) / sf
    matrix, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, ransac_px / sf, maxIters=5000, confidence=0.999)
    inliers = int(mask.sum()) if mask is not None else 0
    if matrix is None or inliers < min_inliers or inliers < min_inlier_share * len(good):
        return failed(f"only {inliers} of {len(good)} matches agree on one geometry: a different scalp region{skin}",
                      inliers, len(good))
    matrix = matrix / matrix[2, 2]
    h, w = moving.shape[:2]
    centre = np.array([[[(w - 1) / 2.0, (h - 1) / 2.0]]], np.float32)
    jac = _jacobian(matrix, centre.reshape(2))
    det = float(np.linalg.det(jac))
    if det <= 0 or not (1 / max_scale_change**2 <= det <= max_scale_change**2):
        return failed("the matched geometry is implausible for a repeat shot (mirrored or far off in scale)",
                      inliers, len(good))
    inl = mask.ravel().astype(bool)
    projected = cv2.perspectiveTransform(src[inl].reshape(-1, 1, 2), matrix).reshape(-1, 2)
    residual = float(np.sqrt(np.mean(np.sum((projected - dst[inl]) ** 2, axis=1))))
    overlap = overlap_pct(matrix, (w, h), (fixed.shape[1], fixed.shape[0]))
    if overlap < min_overlap_pct:
        return Registration(None, inliers, len(good), round(residual, 3), overlap,
                            f"the shots overlap by only {overlap:.0f} % (minimum {min_overlap_pct:g} %)", on_skin)
    return Registration(matrix, inliers, len(good), round(residual, 3), overlap, on_skin=on_skin)


def skin_features(view: SkinView, max_features: int) -> tuple[list, np.ndarray | None]:
    """SIFT keypoints and descriptors on skin only: every keypoint whose neighbourhood (its
    ``size``, the descriptor's support) lies on skin, the strongest ``max_features`` of them.

    Taking the strongest first and then dropping those near hair would keep few: the
    strongest responses are where filled hair meets skin, and the fill differs between visits.
    """
    sift = cv2.SIFT_create(contrastThreshold=SKIN_CONTRAST_THRESHOLD)
    keypoints = sift.detect(view.grey, view.keypoint_mask)
    if not keypoints:
        return [], None
    room = cv2.distanceTransform((view.keypoint_mask > 0).astype(np.uint8), cv2.DIST_L2, 3)
    kept = [k for k in keypoints if room[min(int(k.pt[1]), room.shape[0] - 1), min(int(k.pt[0]), room.shape[1] - 1)]
            >= 0.5 * k.size]
    kept = sorted(kept, key=lambda k: -k.response)[:max_features]
    if not kept:
        return [], None
    return sift.compute(view.grey, kept)


def _jacobian(matrix: np.ndarray, point: np.ndarray) -> np.ndarray:
    x, y = float(point[0]), float(point[1])
    u, v, s = matrix @ np.array([x, y, 1.0])
    row_s = matrix[2, :2]
    return (matrix[:2, :2] * s - np.outer([u, v], row_s)) / (s * s)


def jacobian(matrix: np.ndarray, point: tuple[float, float]) -> np.ndarray:
    """2x2 Jacobian of a homography at a point (local linear map)."""
    return _jacobian(matrix, np.asarray(point, float))
