"""Reference colours of the calibration targets, from colour-science.

The X-Rite ColorChecker Classic (24 patches) values are X-Rite's post-November-2014
formulation ("ColorChecker24 - After November 2014", CIE xyY under D50) as shipped by
colour-science. Patches are numbered row by row from the top left (1 dark skin ... 24
black) with the chart's brown patch at the top left.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from calibration.colorimetry import _colour

COLORCHECKER_NAME = "ColorChecker24 - After November 2014"
# Row-major patch indices of the neutral row (white ... black).
COLORCHECKER_NEUTRALS = tuple(range(18, 24))


@dataclass(frozen=True)
class ReferenceChart:
    """Reference values of a chart's patches."""

    name: str
    patch_names: tuple[str, ...]
    lab_d50: np.ndarray
    """``(N, 3)`` CIE L*a*b* under D50 (the printing industry's viewing illuminant)."""
    linear_srgb: np.ndarray
    """``(N, 3)`` linear sRGB (D65), chromatically adapted from D50 with the Bradford transform."""
    neutrals: tuple[int, ...]
    """Indices of the neutral (grey) patches, light to dark."""


@lru_cache(maxsize=8)
def colorchecker24(name: str = COLORCHECKER_NAME) -> ReferenceChart:
    """A ColorChecker Classic reference from colour-science.

    Parameters
    ----------
    name : str
        A ``colour.CCS_COLOURCHECKERS`` data set matching the clinic's chart: X-Rite's
        post-November-2014 values by default, ``"ColorChecker24 - Before November 2014"``
        for older charts, or ``"BabelColor Average"`` (the average of many charts, the data
        set with published reflectance spectra).
    """
    colour = _colour()
    if name not in colour.CCS_COLOURCHECKERS:
        raise ValueError(f"unknown ColorChecker reference {name!r}")
    chart = colour.CCS_COLOURCHECKERS[name]
    names = tuple(chart.data.keys())
    xyy = np.array(list(chart.data.values()))
    xyz = colour.xyY_to_XYZ(xyy)
    lab = colour.XYZ_to_Lab(xyz, chart.illuminant)
    srgb = colour.RGB_COLOURSPACES["sRGB"]
    linear = colour.XYZ_to_RGB(xyz, srgb, illuminant=chart.illuminant, chromatic_adaptation_transform="Bradford",
                               apply_cctf_encoding=False)
    return ReferenceChart(f"ColorChecker Classic 24 ({name})", names, lab, linear, COLORCHECKER_NEUTRALS)
