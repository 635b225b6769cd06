"""Working copies of a photo for the QA measurements: linear light at reduced resolution."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np


@lru_cache(maxsize=1)
def _srgb_to_linear_lut() -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour

    codes = np.arange(256, dtype=np.float64) / 255.0
    return colour.cctf_decoding(codes, function="sRGB").astype(np.float32)


def to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB-encoded ``uint8``/``uint16`` RGB to linear light in ``[0, 1]`` (IEC 61966-2-1).

    Parameters
    ----------
    rgb : numpy.ndarray
        ``(H, W, 3)`` array, ``uint8`` or ``uint16``.

    Returns
    -------
    numpy.ndarray
        ``float32`` linear RGB.
    """
    if rgb.dtype == np.uint8:
        return _srgb_to_linear_lut()[rgb]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour

    scale = 65535.0 if rgb.dtype == np.uint16 else 1.0
    return colour.cctf_decoding(rgb.astype(np.float64) / scale, function="sRGB").astype(np.float32)


def channel_max(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel maximum over the last axis (element-wise: much faster than a reduction)."""
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def channel_min(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel minimum over the last axis."""
    return np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def luminance(linear_rgb: np.ndarray) -> np.ndarray:
    """Relative luminance Y of linear sRGB (ITU-R BT.709 primaries)."""
    return linear_rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def resize_to(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Downscale so the longer side is at most ``max_side`` (area averaging); return the scale."""
    scale = min(1.0, max_side / max(image.shape[:2]))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


@dataclass(frozen=True)
class ShotPixels:
    """A photo prepared once for every QA measurement, at two resolutions.

    Detail (focus, registration) needs the working resolution; exposure, colour, light and
    glare are smooth quantities and are measured on a smaller copy, which keeps a check well
    under the time of one full-resolution decode.

    Attributes
    ----------
    detail_luminance : numpy.ndarray
        ``(H, W)`` float32 linear luminance at working resolution.
    linear : numpy.ndarray
        ``(h, w, 3)`` float32 linear RGB of the measuring copy.
    saturated : numpy.ndarray
        ``(h, w)`` float32: share of the pixels under each measuring pixel that have a
        channel at the top code value (clipped by the camera).
    work_per_original : float
        Working (detail) pixels per original pixel (``<= 1``).
    original_size : tuple of int
        ``(width, height)`` of the photo as displayed.
    """

    detail_luminance: np.ndarray = field(repr=False)
    linear: np.ndarray = field(repr=False)
    saturated: np.ndarray = field(repr=False)
    work_per_original: float
    original_size: tuple[int, int]

    @property
    def luminance(self) -> np.ndarray:
        """Luminance of the measuring copy."""
        return luminance(self.linear)

    @property
    def detail_size(self) -> tuple[int, int]:
        return self.detail_luminance.shape[1], self.detail_luminance.shape[0]


def prepare(rgb: np.ndarray, original_size: tuple[int, int], work_side: int, measure_side: int) -> ShotPixels:
    """Build :class:`ShotPixels` from decoded pixels (possibly already reduced by the decoder).

    Parameters
    ----------
    rgb : numpy.ndarray
        Decoded ``uint8``/``uint16`` RGB.
    original_size : tuple of int
        ``(width, height)`` of the full-resolution photo.
    work_side, measure_side : int
        Longest sides of the detail copy and of the measuring copy.
    """
    top = 255 if rgb.dtype == np.uint8 else 65535
    work, _ = resize_to(rgb, work_side)
    grey = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY) if work.dtype == np.uint8 else None
    if grey is not None:
        # Luminance of the detail copy through a grey conversion of the encoded values and the
        # sRGB curve: close to the true luminance and three times cheaper (focus and
        # registration only need its structure).
        detail = _srgb_to_linear_lut()[grey]
    else:
        detail = luminance(to_linear(work))
    small, _ = resize_to(work, measure_side)
    clipped = (channel_max(work) >= top - (1 if work.dtype == np.uint8 else 64)).astype(np.float32)
    saturated = cv2.resize(clipped, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    return ShotPixels(detail, to_linear(small), saturated, work.shape[1] / original_size[0], original_size)
