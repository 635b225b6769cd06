"""Change between baseline and follow-up with its uncertainty, and the clinical outcome.

The 95 % interval is a tile bootstrap (Efron & Tibshirani 1993, ch. 13, percentile
interval): the common scalp area is cut into tiles, tiles are resampled with replacement and
the change recomputed, so the interval reflects how unevenly hairs changed across the field
(and how many there were to count), not a model assumption.

Resampling tiles shows no spread when the field changed evenly or hardly at all: a pair with
nothing gained or lost among twenty matched hairs would get the interval [0, 0]. Hairs gained
and lost are counts of rare events, so the density interval is never narrower than the one
their counting alone allows: the difference of the two counts' Jeffreys posteriors
(Gamma(k + 1/2) for a Poisson count k; Brown L. D., Cai T. T., DasGupta A., "Interval
estimation for a binomial proportion", Statistical Science 16(2) 2001, and its Poisson
analogue).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChangeEstimate:
    value: float
    ci95: tuple[float, float]


def tile_index(points: np.ndarray, shape: tuple[int, int], tiles: int) -> np.ndarray:
    """Tile of each (x, y) point on a ``tiles`` x ``tiles`` grid over an image of ``shape``."""
    h, w = shape
    if len(points) == 0:
        return np.zeros(0, int)
    col = np.clip((points[:, 0] / w * tiles).astype(int), 0, tiles - 1)
    row = np.clip((points[:, 1] / h * tiles).astype(int), 0, tiles - 1)
    return row * tiles + col


def tile_areas(region: np.ndarray, tiles: int) -> np.ndarray:
    """Pixels of the region in each tile (row-major)."""
    h, w = region.shape
    rows = np.minimum((np.arange(h) * tiles) // h, tiles - 1)
    cols = np.minimum((np.arange(w) * tiles) // w, tiles - 1)
    index = rows[:, None] * tiles + cols[None, :]
    return np.bincount(index[region], minlength=tiles * tiles).astype(float)


def bootstrap_rate_change(gained: np.ndarray, lost: np.ndarray, areas: np.ndarray, *, scale: float,
                          resamples: int, seed: int) -> ChangeEstimate:
    """Change of a per-area rate, ``(gained - lost) / area``, with a tile-bootstrap interval.

    Parameters
    ----------
    gained, lost : numpy.ndarray
        Per tile: counts gained and lost.
    areas : numpy.ndarray
        Per tile: area (pixels); tiles with no area are ignored.
    scale : float
        Multiplies the rate into the reported unit (e.g. pixels -> cm2).
    resamples : int
    seed : int
        The interval is reproducible for a given seed.

    Returns
    -------
    ChangeEstimate
        The interval is the wider of the tile bootstrap's and the counting interval's (see
        the module's notes) at each end.
    """
    used = areas > 0
    gained, lost, areas = gained[used], lost[used], areas[used]
    if areas.sum() <= 0:
        return ChangeEstimate(float("nan"), (float("nan"), float("nan")))
    value = float((gained.sum() - lost.sum()) / areas.sum() * scale)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(areas), size=(resamples, len(areas)))
    totals = (gained[picks] - lost[picks]).sum(axis=1) / np.maximum(areas[picks].sum(axis=1), 1e-9) * scale
    low, high = np.percentile(totals, [2.5, 97.5])
    counted = (rng.gamma(gained.sum() + 0.5, size=resamples) - rng.gamma(lost.sum() + 0.5, size=resamples))
    c_low, c_high = np.percentile(counted / areas.sum() * scale, [2.5, 97.5])
    return ChangeEstimate(value, (float(min(low, c_low)), float(max(high, c_high))))


def bootstrap_share_change(follow: np.ndarray, base: np.ndarray, areas: np.ndarray, *, resamples: int,
                           seed: int) -> ChangeEstimate:
    """Change in percentage points of a share (e.g. hair coverage), tile bootstrap.

    ``follow`` and ``base`` are per-tile covered pixels; ``areas`` per-tile analysed pixels.
    """
    used = areas > 0
    follow, base, areas = follow[used], base[used], areas[used]
    if areas.sum() <= 0:
        return ChangeEstimate(float("nan"), (float("nan"), float("nan")))
    value = float(100.0 * (follow.sum() - base.sum()) / areas.sum())
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(areas), size=(resamples, len(areas)))
    totals = 100.0 * (follow[picks] - base[picks]).sum(axis=1) / np.maximum(areas[picks].sum(axis=1), 1e-9)
    low, high = np.percentile(totals, [2.5, 97.5])
    return ChangeEstimate(value, (float(low), float(high)))


def outcome(change: ChangeEstimate, threshold: float) -> str:
    """``improved`` when the whole interval lies above ``+threshold``, ``worse`` below
    ``-threshold``, else ``stable`` (the change is not shown to exceed what matters)."""
    low, high = change.ci95
    if low > threshold:
        return "improved"
    if high < -threshold:
        return "worse"
    return "stable"
