"""Hair coverage of a global view (crown, vertex, frontal): the share of the analysed scalp
area covered by hair, i.e. the complement of the visible scalp.

Visible scalp is told from hair by its colour in CIE L*a*b* (computed from the calibrated
image): skin is reddish (a* clearly positive) with a hue between red and yellow and some
lightness, while dark hair is dark, grey hair is nearly achromatic and blond hair is much
yellower than skin (b* several times a*). Skin colour models in L*a*b* are standard in skin
detection (Kakumanu, Makrogiannis & Bourbakis 2007, "A survey of skin-color modeling and
detection methods", Pattern Recognition 40(3)); the limits are protocol settings, to be set
for the clinic's population.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SkinRules:
    min_a: float = 5.5
    """Skin redness: a* above this."""
    min_hue_ratio: float = 0.4
    """b*/a* of skin: between these (a hue between red and orange-yellow)."""
    max_hue_ratio: float = 1.8
    min_lightness: float = 25.0


@dataclass(frozen=True)
class Coverage:
    coverage_pct: float
    skin_mask: np.ndarray
    """Bool: visible scalp."""


def visible_scalp(linear: np.ndarray, rules: SkinRules) -> np.ndarray:
    """Bool mask of visible scalp (skin) pixels in a linear-RGB image."""
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(np.clip(linear, 0, 1), 1 / 2.4) - 0.055)
    lab = cv2.cvtColor(np.clip(encoded, 0, 1).astype(np.float32), cv2.COLOR_RGB2Lab)
    lightness, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    skin = (a > rules.min_a) & (b > rules.min_hue_ratio * a) & (b < rules.max_hue_ratio * a) & \
        (lightness > rules.min_lightness)
    # Isolated pixels are noise or hair sheen, not scalp.
    return cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).astype(bool)


def hair_coverage(linear: np.ndarray, region: np.ndarray, rules: SkinRules = SkinRules()) -> Coverage:
    """Hair coverage in % of ``region`` (the analysed scalp area).

    Parameters
    ----------
    linear : numpy.ndarray
        ``(H, W, 3)`` linear RGB, calibrated when a calibration is available.
    region : numpy.ndarray
        Bool analysed scalp area.
    rules : SkinRules

    Returns
    -------
    Coverage
    """
    skin = visible_scalp(linear, rules) & region
    area = int(region.sum())
    share = 100.0 * (1.0 - skin.sum() / area) if area else float("nan")
    return Coverage(round(share, 3), skin)
