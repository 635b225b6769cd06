"""Hair-to-hair matching between a registered baseline and follow-up: which hairs are in both,
lost or new.

Emergence points of the follow-up, mapped into the baseline with the registration, are
paired one-to-one with the baseline's by the Hungarian algorithm (Kuhn 1955; scipy's
``linear_sum_assignment``) within a gate of a few shaft widths. A detection that stands for
several hairs of one unit matches as many as both sides show; the rest are lost or new.

An unpaired hair is then checked against the other photo's hair mask at its place: a hair
the detector missed in one photo but whose shaft is plainly there is not a loss or a gain
(Bokhari et al. 2022: change measured on matched hairs of registered images is an order of
magnitude more precise than the difference of two separate counts).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class HairMatching:
    """Result in baseline pixel coordinates."""

    base_roots: np.ndarray
    """``(B, 2)`` baseline emergence points (x, y)."""
    follow_roots: np.ndarray
    """``(F, 2)`` follow-up emergence points mapped into the baseline."""
    pairs: np.ndarray
    """``(P, 2)`` indices (baseline, follow-up) of paired detections."""
    matched: np.ndarray
    """``(B,)`` hairs of each baseline detection found again."""
    lost: np.ndarray
    """``(B,)`` hairs of each baseline detection not found again."""
    new: np.ndarray
    """``(F,)`` hairs of each follow-up detection that are new."""

    @property
    def matched_count(self) -> int:
        return int(self.matched.sum())

    @property
    def lost_count(self) -> int:
        return int(self.lost.sum())

    @property
    def new_count(self) -> int:
        return int(self.new.sum())


def _present(mask: np.ndarray, start: np.ndarray, end: np.ndarray, samples: int = 9) -> bool:
    """Is a shaft there: do most points from an emergence point towards its end lie on hair?"""
    h, w = mask.shape
    t = np.linspace(0.1, 0.6, samples)
    points = start[None, :] + t[:, None] * (end - start)[None, :]
    x, y = np.round(points[:, 0]).astype(int), np.round(points[:, 1]).astype(int)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    if inside.sum() < samples // 2:
        return False
    return bool(mask[y[inside], x[inside]].mean() >= 0.6)


def match_hairs(base_roots: np.ndarray, base_ends: np.ndarray, base_count: np.ndarray, follow_roots: np.ndarray,
                follow_ends: np.ndarray, follow_count: np.ndarray, *, gate_px: float,
                base_mask: np.ndarray | None = None, follow_mask_in_base: np.ndarray | None = None) -> HairMatching:
    """Pair baseline and follow-up hairs.

    Parameters
    ----------
    base_roots, base_ends : numpy.ndarray
        ``(B, 2)`` baseline emergence points and other ends (x, y).
    base_count : numpy.ndarray
        ``(B,)`` hairs per baseline detection.
    follow_roots, follow_ends, follow_count : numpy.ndarray
        The same for the follow-up, already mapped into baseline coordinates.
    gate_px : float
        Largest distance between paired emergence points.
    base_mask, follow_mask_in_base : numpy.ndarray, optional
        Hair masks (baseline frame) for checking unpaired hairs.

    Returns
    -------
    HairMatching
    """
    nb, nf = len(base_roots), len(follow_roots)
    pairs = np.zeros((0, 2), int)
    if nb and nf:
        cost = np.hypot(base_roots[:, None, 0] - follow_roots[None, :, 0], base_roots[:, None, 1] - follow_roots[None, :, 1])
        big = 1e6
        rows, cols = linear_sum_assignment(np.where(cost <= gate_px, cost, big))
        ok = cost[rows, cols] <= gate_px
        pairs = np.column_stack([rows[ok], cols[ok]])
    matched = np.zeros(nb, int)
    lost = np.asarray(base_count, int).copy()
    new = np.asarray(follow_count, int).copy()
    for b, f in pairs:
        common = min(base_count[b], follow_count[f])
        matched[b] = common
        lost[b] = base_count[b] - common
        new[f] = follow_count[f] - common
    paired_b = set(pairs[:, 0].tolist())
    paired_f = set(pairs[:, 1].tolist())
    if follow_mask_in_base is not None:
        for b in range(nb):
            if b not in paired_b and _present(follow_mask_in_base, base_roots[b], base_ends[b]):
                matched[b], lost[b] = base_count[b], 0
    if base_mask is not None:
        for f in range(nf):
            if f not in paired_f and _present(base_mask, follow_roots[f], follow_ends[f]):
                new[f] = 0
    return HairMatching(np.asarray(base_roots, float), np.asarray(follow_roots, float), pairs, matched, lost, new)
