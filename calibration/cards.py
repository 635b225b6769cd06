"""Finding a calibration card in a photo: photostation's PS-1 card (ArUco markers) or an X-Rite
ColorChecker Classic 24 (OpenCV contrib ``mcc``, Marrero Fernández et al. 2019, "Fast and
robust multiple ColorChecker detection using deep convolutional neural networks", Image and
Vision Computing 81), in any rotation and at an angle.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration import project_card
from calibration.reference import COLORCHECKER_NAME, colorchecker24

COLORCHECKER = "colorchecker24"
PS1 = "ps1"


@dataclass(frozen=True)
class CardDetection:
    """A calibration card found in an image (pixel coordinates of the image given)."""

    type: str
    """``"ps1"`` or ``"colorchecker24"``."""
    corners_px: np.ndarray
    """``(4, 2)`` card (PS-1) or patch-area (ColorChecker) corners: the card's top-left first, clockwise."""
    patch_quads_px: np.ndarray
    """``(N, 4, 2)`` each patch's corners."""
    patch_names: tuple[str, ...]
    reference_linear: np.ndarray
    """``(N, 3)`` reference linear sRGB of the patches."""
    neutrals: tuple[int, ...]
    """Indices of the grey patches, light to dark."""
    card_to_image: np.ndarray | None
    """Card millimetres -> image pixels (PS-1 only; the ColorChecker's size is not standardised here)."""
    centre_mm: tuple[float, float] | None = None
    """The card's centre in the millimetres of ``card_to_image``."""


def _srgb8_to_linear(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, float) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


_SRGB8_TO_LINEAR8 = np.round(_srgb8_to_linear(np.arange(256)) * 255.0).astype(np.uint8)


def _find_ps1(grey: np.ndarray) -> CardDetection | None:
    fit = project_card.find_project_card(grey)
    if fit is None:
        return None
    layout = project_card.card_layout()
    half = project_card.PATCH_MM / 2
    offsets = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    quads_mm = layout.patch_centres_mm[:, None, :] + offsets[None]
    quads = cv2.perspectiveTransform(quads_mm.reshape(-1, 1, 2), fit.card_to_image).reshape(-1, 4, 2)
    return CardDetection(PS1, fit.corners_px, quads, layout.patch_names, _srgb8_to_linear(layout.patch_srgb8),
                         layout.neutrals, fit.card_to_image,
                         (project_card.CARD_WIDTH_MM / 2, project_card.CARD_HEIGHT_MM / 2))


def _find_colorchecker(bgr: np.ndarray, reference: str) -> CardDetection | None:
    detector = cv2.mcc.CCheckerDetector_create()
    detector.setColorChartType(cv2.mcc.MCC24)
    if not detector.process(bgr, 1):
        return None
    checker = detector.getBestColorChecker()
    quads = np.asarray(checker.getColorCharts(), float).reshape(24, 4, 2)
    # Patch corners run clockwise from each patch's top-left in the chart's own orientation,
    # so the patch grid's outline is the outer corners of the four corner patches.
    outline = np.array([quads[0][0], quads[5][1], quads[23][2], quads[18][3]])
    if cv2.contourArea(outline.astype(np.float32)) < 100.0:
        return None  # mcc occasionally reports an empty, degenerate chart
    ref = colorchecker24(reference)
    return CardDetection(COLORCHECKER, outline, quads, ref.patch_names, ref.linear_srgb, ref.neutrals, None)


def find_card(rgb8: np.ndarray, *, max_side: int = 2000, colorchecker_reference: str = COLORCHECKER_NAME,
              colorchecker: bool = True) -> CardDetection | None:
    """Look for a PS-1 card, then for a ColorChecker Classic.

    Parameters
    ----------
    rgb8 : numpy.ndarray
        ``(H, W, 3)`` uint8 sRGB image.
    max_side : int
        Detection runs on a copy at most this large; coordinates refer to ``rgb8``.
    colorchecker_reference : str
        Reference data set of the clinic's ColorChecker (see :func:`colorchecker24`).
    colorchecker : bool
        Look for a ColorChecker when no PS-1 card is found (False: the PS-1 card only).

    Returns
    -------
    CardDetection or None
    """
    scale = min(1.0, max_side / max(rgb8.shape[:2]))
    small = rgb8 if scale == 1.0 else cv2.resize(rgb8, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # Marker corners are located on linear light: on gamma-encoded values the blur of the
    # black/white edge is lopsided and the corners sit ~0.5 px inside the markers.
    linear_grey = _SRGB8_TO_LINEAR8[cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)]
    found = _find_ps1(linear_grey)
    if found is None and not colorchecker:
        return None
    found = found or _find_colorchecker(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), colorchecker_reference)
    if found is None and max(small.shape[:2]) > 1000:
        # mcc's candidate search depends on the scale; a chart it misses at one size it
        # usually finds on a smaller copy (2 of 100 benchmark charts).
        retry = 0.6
        smaller = cv2.resize(small, None, fx=retry, fy=retry, interpolation=cv2.INTER_AREA)
        found = _find_colorchecker(cv2.cvtColor(smaller, cv2.COLOR_RGB2BGR), colorchecker_reference)
        scale *= retry
    if found is None or scale == 1.0:
        return found
    back = np.diag([1 / scale, 1 / scale, 1.0])
    return CardDetection(found.type, found.corners_px / scale, found.patch_quads_px / scale, found.patch_names,
                         found.reference_linear, found.neutrals,
                         back @ found.card_to_image if found.card_to_image is not None else None, found.centre_mm)
