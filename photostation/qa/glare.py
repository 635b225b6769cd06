"""Glare: specular highlights in the scalp region (wet or oily hair, hair product, a flash
reflected by the scalp). They are small, saturated and colourless, which skin and hair in
a correct exposure are not."""
from __future__ import annotations

import numpy as np

from photostation.qa.pixels import channel_max, channel_min


def glare_share_pct(linear: np.ndarray, region: np.ndarray, *, near_white: float, max_chroma: float) -> float:
    """Share of the scalp region covered by specular highlights, in %.

    Parameters
    ----------
    linear : numpy.ndarray
        ``(H, W, 3)`` linear RGB.
    region : numpy.ndarray
        Bool scalp region.
    near_white : float
        Linear value every channel must reach (e.g. 0.8).
    max_chroma : float
        Maximum ``(max - min) / max`` of the channels (colourless highlights).

    Returns
    -------
    float
    """
    top, bottom = channel_max(linear), channel_min(linear)
    specular = (bottom >= near_white) & ((top - bottom) <= max_chroma * top)
    return round(100.0 * float(specular[region].mean()) if region.any() else 0.0, 3)
