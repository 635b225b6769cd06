"""Exposure: brightness level and clipping of a shot, and its exposure difference (EV)
against the baseline.

The level is the CIE 1976 lightness L* (CIE 15:2018) of the brightest 1 % of the scalp
region: skin highlights and hair sheen, which a correct exposure puts high but unclipped,
whatever the share of dark hair in the frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ExposureStats:
    level_lightness: float
    """L* (0-100) of the 99th percentile of luminance in the region."""
    median_lightness: float
    highlights_clipped_pct: float
    """Share of region pixels with a channel at the top code value."""
    shadows_clipped_pct: float
    """Share of region pixels black in every channel (linear luminance below 0.2 %)."""


def lightness(y: np.ndarray | float) -> np.ndarray | float:
    """CIE L* from relative luminance Y in [0, 1] (CIE 15:2018, eq. 8.1)."""
    y = np.asarray(y, dtype=np.float64)
    return np.where(y > (6 / 29) ** 3, 116 * np.cbrt(y) - 16, y * (29 / 3) ** 3)


def measure_exposure(luminance: np.ndarray, saturated: np.ndarray, region: np.ndarray) -> ExposureStats:
    """Exposure statistics of one shot.

    Parameters
    ----------
    luminance : numpy.ndarray
        Linear relative luminance ``(H, W)``.
    saturated : numpy.ndarray
        Share of clipped pixels per working pixel ``(H, W)``.
    region : numpy.ndarray
        Bool scalp region.

    Returns
    -------
    ExposureStats
    """
    y = luminance[region]
    if y.size == 0:
        y = luminance.ravel()
        region = np.ones(luminance.shape, bool)
    return ExposureStats(
        level_lightness=round(float(lightness(np.percentile(y, 99))), 2),
        median_lightness=round(float(lightness(np.median(y))), 2),
        highlights_clipped_pct=round(100.0 * float(saturated[region].mean()), 3),
        shadows_clipped_pct=round(100.0 * float((y < 0.002).mean()), 3),
    )


def histogram_mode(values: np.ndarray, low: float, high: float, bins: int = 240) -> float | None:
    """Peak of a smoothed histogram, refined by a parabola through the top three bins.

    Unchanged scalp gives a sharp peak at the true shift; pixels where hair grew, moved or
    was lost spread widely and barely move the peak (a robust estimate, unlike the mean).
    """
    values = values[np.isfinite(values)]
    if values.size < 50:
        return None
    counts, edges = np.histogram(np.clip(values, low, high), bins=bins, range=(low, high))
    kernel = np.array([1, 4, 6, 4, 1], float) / 16.0
    smooth = np.convolve(counts.astype(float), kernel, mode="same")
    i = int(np.argmax(smooth[1:-1])) + 1
    a, b, c = smooth[i - 1], smooth[i], smooth[i + 1]
    offset = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    width = edges[1] - edges[0]
    return float(edges[i] + width * (0.5 + offset))


def exposure_difference_ev(luminance: np.ndarray, baseline_luminance: np.ndarray, valid: np.ndarray) -> float | None:
    """Exposure difference in EV (stops) of a registered pair: ``log2(Y_followup / Y_baseline)``.

    Parameters
    ----------
    luminance : numpy.ndarray
        Follow-up luminance warped into the baseline frame.
    baseline_luminance : numpy.ndarray
        Baseline luminance, same shape.
    valid : numpy.ndarray
        Bool mask of pixels seen in both and inside the scalp region.

    Returns
    -------
    float or None
        Positive when the follow-up is brighter; ``None`` with too few usable pixels.
    """
    a, b = luminance[valid], baseline_luminance[valid]
    usable = (a > 0.004) & (b > 0.004) & (a < 0.98) & (b < 0.98)
    mode = histogram_mode(np.log2(a[usable] / b[usable]), -4.0, 4.0)
    return None if mode is None else round(mode, 3)


def exposure_difference_unregistered(luminance: np.ndarray, region: np.ndarray, baseline_luminance: np.ndarray,
                                     baseline_region: np.ndarray) -> float | None:
    """Fallback without registration: ratio of the regions' luminance medians, in EV."""
    a, b = luminance[region], baseline_luminance[baseline_region]
    if a.size == 0 or b.size == 0:
        return None
    ma, mb = float(np.median(a)), float(np.median(b))
    return round(float(np.log2(ma / mb)), 3) if ma > 0 and mb > 0 else None
