"""Colourimetry on linear sRGB with colour-science: CIE L*a*b*, CIEDE2000, correlated colour
temperature. Thin wrappers so the rest of the code names what it computes."""
from __future__ import annotations

import warnings

import numpy as np


def _colour():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    return colour


def lab_d50_from_linear_srgb(linear: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D50) of linear sRGB (D65) colours, adapted with Bradford."""
    colour = _colour()
    srgb = colour.RGB_COLOURSPACES["sRGB"]
    d50 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D50"]
    xyz = colour.RGB_to_XYZ(np.asarray(linear, float), srgb, illuminant=d50, chromatic_adaptation_transform="Bradford",
                            apply_cctf_decoding=False)
    return colour.XYZ_to_Lab(xyz, d50)


def delta_e2000(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (Sharma, Wu & Dalal 2005), via colour-science."""
    return np.asarray(_colour().delta_E(lab_a, lab_b, method="CIE 2000"))


def cct_of_rgb(rgb: np.ndarray) -> tuple[float, float]:
    """CCT (K) and Duv of the light whose colour is this linear-sRGB triplet (Ohno 2013).

    Parameters
    ----------
    rgb : numpy.ndarray
        ``(3,)`` linear sRGB of a neutral surface under the light.

    Returns
    -------
    tuple of float
        ``(cct_k, duv)``.
    """
    colour = _colour()
    rgb = np.clip(np.asarray(rgb, float), 1e-6, None)
    xyz = colour.RGB_to_XYZ(rgb / rgb.max(), colour.RGB_COLOURSPACES["sRGB"], apply_cctf_decoding=False)
    uv = colour.xy_to_UCS_uv(colour.XYZ_to_xy(xyz))
    cct, duv = colour.uv_to_CCT(uv, method="Ohno 2013")
    return float(cct), float(duv)
