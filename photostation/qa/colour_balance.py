"""White balance: the colour of the light a shot was balanced for, as correlated colour
temperature (CCT) and tint (Duv), and its shift against the baseline in mireds.

Single shot: the illuminant is estimated with the grey-edge hypothesis (van de Weijer,
Gevers & Gijsenij 2007, "Edge-based colour constancy", IEEE TIP 16(9)): the average colour
of image derivatives is achromatic under neutral light, which holds for textured scalp far
better than the grey-world average of skin and hair. Against the baseline the same scalp is
compared pixel by pixel, so skin colour cancels out. Colourimetry (sRGB -> XYZ -> CCT/Duv,
Ohno 2013) is done with colour-science.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.colorimetry import cct_of_rgb
from photostation.qa.exposure import histogram_mode
from photostation.qa.pixels import channel_max, channel_min


@dataclass(frozen=True)
class WhiteBalance:
    cct_k: float
    """Correlated colour temperature of the light the photo looks balanced for."""
    duv: float
    """Distance from the Planckian locus in CIE 1960 uv (+ green, - magenta)."""
    cast_mired: float
    """``1e6/CCT - 1e6/6504``: + warm (reddish) cast, - cool (bluish) cast against D65."""


def balance_of_light(rgb: np.ndarray) -> WhiteBalance:
    """CCT, tint and cast of the light whose colour (linear sRGB of a neutral surface) is ``rgb``."""
    cct, duv = cct_of_rgb(rgb)
    _, d65_duv = cct_of_rgb(np.ones(3))
    return WhiteBalance(round(cct, 1), round(duv - d65_duv, 5), round(1e6 / cct - 1e6 / 6504.0, 2))


def estimate_white_balance(linear: np.ndarray, region: np.ndarray, *, minkowski_p: float = 6.0) -> WhiteBalance:
    """Grey-edge estimate of the light's colour in one shot.

    Parameters
    ----------
    linear : numpy.ndarray
        ``(H, W, 3)`` linear RGB.
    region : numpy.ndarray
        Bool scalp region.
    minkowski_p : float
        Minkowski norm of the derivative pooling (p = 6 in van de Weijer et al.).

    Returns
    -------
    WhiteBalance
    """
    smooth = cv2.GaussianBlur(linear, (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    grad = np.sqrt(gx * gx + gy * gy)[region]
    unclipped = channel_max(linear)[region] < 0.95
    grad = grad[unclipped] if unclipped.sum() > 100 else grad
    illuminant = np.power(np.mean(np.power(grad.astype(np.float64), minkowski_p), axis=0), 1.0 / minkowski_p)
    return balance_of_light(illuminant)


def white_balance_shift(linear: np.ndarray, baseline_linear: np.ndarray, valid: np.ndarray) -> tuple[float, float] | None:
    """Shift of the light's colour between a registered pair.

    Parameters
    ----------
    linear : numpy.ndarray
        Follow-up linear RGB warped into the baseline frame.
    baseline_linear : numpy.ndarray
        Baseline linear RGB, same shape.
    valid : numpy.ndarray
        Bool mask of pixels seen in both, inside the scalp region.

    Returns
    -------
    tuple of float or None
        ``(shift_mired, tint_shift_duv)``: + mired = the follow-up is warmer (redder);
        ``None`` with too few usable pixels.
    """
    a, b = linear[valid].astype(np.float64), baseline_linear[valid].astype(np.float64)
    usable = (channel_min(a) > 0.004) & (channel_min(b) > 0.004) & (channel_max(a) < 0.98) & (channel_max(b) < 0.98)
    a, b = a[usable], b[usable]
    if len(a) < 200:
        return None
    # Per-channel gain relative to green: exposure cancels, the light's colour remains.
    red = histogram_mode(np.log2(a[:, 0] / a[:, 1]) - np.log2(b[:, 0] / b[:, 1]), -3, 3)
    blue = histogram_mode(np.log2(a[:, 2] / a[:, 1]) - np.log2(b[:, 2] / b[:, 1]), -3, 3)
    if red is None or blue is None:
        return None
    # A neutral surface under the baseline's light (sRGB white) seen with the follow-up's gains.
    shifted = balance_of_light(np.array([2.0 ** red, 1.0, 2.0 ** blue]))
    return round(shifted.cast_mired, 2), round(shifted.duv, 5)


def white_balance_shift_unregistered(linear: np.ndarray, region: np.ndarray, baseline_linear: np.ndarray,
                                     baseline_region: np.ndarray) -> tuple[float, float] | None:
    """Fallback without registration: the shift of the light's colour from the median
    chromaticity of each shot's skin.

    The same patient's scalp is photographed twice, so the skin's own colour cancels in the
    difference, as in :func:`white_balance_shift`, but without pixel-by-pixel pairing: a
    colour cast is still reported as a colour cast when the pair cannot be registered.

    Parameters
    ----------
    linear, baseline_linear : numpy.ndarray
        ``(H, W, 3)`` linear RGB of each shot (sizes may differ).
    region, baseline_region : numpy.ndarray
        Bool masks of the skin (or the scalp, where hair cannot be told apart) in each.

    Returns
    -------
    tuple of float or None
        ``(shift_mired, tint_shift_duv)`` as :func:`white_balance_shift`; ``None`` with fewer
        than 200 usable pixels in either shot.
    """
    def chromaticity(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        px = image[mask].astype(np.float64)
        px = px[(channel_min(px) > 0.004) & (channel_max(px) < 0.98)]
        if len(px) < 200:
            return None
        return np.median(np.log2(px[:, [0, 2]] / px[:, [1]]), axis=0)

    a, b = chromaticity(linear, region), chromaticity(baseline_linear, baseline_region)
    if a is None or b is None:
        return None
    red, blue = a - b
    shifted = balance_of_light(np.array([2.0 ** red, 1.0, 2.0 ** blue]))
    return round(shifted.cast_mired, 2), round(shifted.duv, 5)
