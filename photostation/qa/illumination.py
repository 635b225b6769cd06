"""Lighting uniformity: the low-frequency illumination field across the frame.

The field is a second-order polynomial surface fitted (least squares) to the log luminance
of the brightest pixels of each block of the scalp region: skin under the light, not the
dark hair above it. Its max/min ratio says how uneven the light is, its slope which way it
falls off. Against the baseline the same is fitted to the pixel-wise log ratio of the
registered pair, where the scalp itself cancels and only the change of light remains (a
flash moved to one side).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IlluminationField:
    ratio: float
    """Max/min of the fitted field over the region (1 = perfectly even)."""
    darker_towards_deg: float | None
    """Image direction (0 = right, 90 = down) in which the light falls off, when it does."""


def _blocks(values: np.ndarray, mask: np.ndarray, block: int, percentile: float,
            min_share: float = 0.5) -> tuple[np.ndarray, ...]:
    """Centres (in frame units, -0.5..0.5) and a percentile of each block with at least
    ``min_share`` of it in the mask."""
    h, w = values.shape
    ny, nx = h // block, w // block
    if ny == 0 or nx == 0:
        return np.array([]), np.array([]), np.array([])
    tiles = values[:ny * block, :nx * block].reshape(ny, block, nx, block).transpose(0, 2, 1, 3).reshape(ny, nx, -1)
    inside = mask[:ny * block, :nx * block].reshape(ny, block, nx, block).transpose(0, 2, 1, 3).reshape(ny, nx, -1)
    usable = inside.mean(axis=2) >= min_share
    if not usable.any():
        return np.array([]), np.array([]), np.array([])
    # Pixels outside the mask sort below every real value, so the percentile of the masked
    # pixels is taken at the right rank of each sorted block.
    chosen = np.where(inside[usable], tiles[usable], -np.inf)
    ordered = np.sort(chosen, axis=1)
    count = inside[usable].sum(axis=1)
    rank = (block * block - count) + np.floor((count - 1) * percentile / 100.0).astype(int)
    v = ordered[np.arange(len(ordered)), rank]
    iy, ix = np.nonzero(usable)
    return (ix * block + block / 2) / w - 0.5, (iy * block + block / 2) / h - 0.5, v


def _design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones_like(x), x, y, x * x, x * y, y * y])


def fit_field(log_values: np.ndarray, mask: np.ndarray, *, blocks_per_side: int = 16,
              percentile: float = 50.0, min_share: float = 0.5) -> IlluminationField | None:
    """Fit a smooth illumination surface to log values over a mask.

    Parameters
    ----------
    log_values : numpy.ndarray
        ``(H, W)`` natural-log luminance (or log ratio of a registered pair).
    mask : numpy.ndarray
        Bool pixels to use.
    blocks_per_side : int
        The frame is sampled in about this many blocks along its longer side.
    percentile : float
        Which percentile of each block represents the light (high = skin, not hair).
    min_share : float
        A block is used when at least this share of it is in the mask (skin between long
        hairs is sparse: a few dozen pixels of a block still say how its light changed).

    Returns
    -------
    IlluminationField or None
        ``None`` when fewer than 12 blocks are usable.
    """
    block = max(4, max(log_values.shape) // blocks_per_side)
    x, y, v = _blocks(log_values, mask, block, percentile, min_share)
    if len(v) < 12:
        return None
    design = _design(x, y)
    coef, *_ = np.linalg.lstsq(design, v, rcond=None)
    # A second pass without the worst-fitting blocks (hair clumps, glare spots).
    resid = np.abs(design @ coef - v)
    keep = resid <= np.percentile(resid, 85)
    coef, *_ = np.linalg.lstsq(design[keep], v[keep], rcond=None)
    fitted = design @ coef
    ratio = float(math.exp(fitted.max() - fitted.min()))
    slope = coef[1:3]
    darker = None
    if np.hypot(*slope) > 1e-6:
        darker = round(math.degrees(math.atan2(-slope[1], -slope[0])) % 360.0, 1)
    return IlluminationField(round(ratio, 3), darker)


def direction_words(angle_deg: float | None) -> str:
    """'the right', 'the bottom left', ... for an image direction (0 = right, 90 = down)."""
    if angle_deg is None:
        return "nowhere in particular"
    names = ["the right", "the bottom right", "the bottom", "the bottom left", "the left", "the top left",
             "the top", "the top right"]
    return names[int(((angle_deg % 360) + 22.5) // 45) % 8]
