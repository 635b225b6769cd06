"""photostation's printable calibration card "PS-1": four ArUco markers at known positions,
a neutral grey ramp and colour patches with published reference values, on a card the size
of a credit card (85.6 x 54 mm, ISO/IEC 7810 ID-1) that can stay in every shot.

The markers (OpenCV ``aruco``, dictionary 4x4_50, ids 10-13; Garrido-Jurado et al. 2014,
Pattern Recognition 47(6)) give the card's corners in any rotation, the homography from card
millimetres to image pixels, and so the scale (mm per pixel) and the card's tilt. The patch
reference values below are the design values (sRGB, D65); a clinic that measures its printed
cards with a spectrophotometer can pass the measured values instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

CARD_NAME = "photostation card PS-1"
CARD_WIDTH_MM = 85.6
CARD_HEIGHT_MM = 54.0
MARKER_MM = 12.0
MARKER_MARGIN_MM = 3.0
MARKER_IDS = (10, 11, 12, 13)  # top-left, top-right, bottom-right, bottom-left
ARUCO_DICTIONARY = cv2.aruco.DICT_4X4_50
PATCH_MM = 8.0
SCALE_BAR_MM = 50.0

# Neutral ramp (light to dark) and colour patches, 8-bit sRGB design values. The neutrals
# follow the ColorChecker's neutral row; the colours are its skin, primary and secondary
# patches, so one set of published values serves both cards.
GREY_RAMP_SRGB8 = ((243, 243, 243), (200, 200, 200), (160, 160, 160), (122, 122, 122), (85, 85, 85), (52, 52, 52))
COLOUR_PATCHES_SRGB8 = ((115, 82, 68), (194, 150, 130), (56, 61, 150), (70, 148, 73), (175, 54, 60), (231, 199, 31))
COLOUR_PATCH_NAMES = ("dark skin", "light skin", "blue", "green", "red", "yellow")


@dataclass(frozen=True)
class CardLayout:
    """Geometry of the card in millimetres (x right, y down, origin at the top-left corner)."""

    marker_corners_mm: dict[int, np.ndarray]
    """Marker id -> ``(4, 2)`` corners in ArUco order (top-left, top-right, bottom-right, bottom-left)."""
    patch_centres_mm: np.ndarray
    """``(12, 2)``: the six grey-ramp patches (light to dark), then the six colour patches."""
    patch_names: tuple[str, ...]
    patch_srgb8: np.ndarray
    """``(12, 3)`` design values, 8-bit sRGB."""
    neutrals: tuple[int, ...]
    """Indices of the grey-ramp patches."""
    scale_bar_mm: tuple[tuple[float, float], tuple[float, float]]


@lru_cache(maxsize=1)
def card_layout() -> CardLayout:
    """The PS-1 layout."""
    m, s = MARKER_MARGIN_MM, MARKER_MM
    origins = {MARKER_IDS[0]: (m, m), MARKER_IDS[1]: (CARD_WIDTH_MM - m - s, m),
               MARKER_IDS[2]: (CARD_WIDTH_MM - m - s, CARD_HEIGHT_MM - m - s), MARKER_IDS[3]: (m, CARD_HEIGHT_MM - m - s)}
    markers = {i: np.array([[x, y], [x + s, y], [x + s, y + s], [x, y + s]], float) for i, (x, y) in origins.items()}
    # Two rows of six patches between the marker columns.
    left = m + s + 3.0
    pitch = (CARD_WIDTH_MM - 2 * left - PATCH_MM) / 5.0
    xs = left + PATCH_MM / 2 + pitch * np.arange(6)
    rows = (m + PATCH_MM / 2 + 1.0, CARD_HEIGHT_MM - m - PATCH_MM / 2 - 1.0)
    centres = np.array([[x, rows[0]] for x in xs] + [[x, rows[1]] for x in xs])
    names = tuple(f"grey {i + 1}" for i in range(6)) + COLOUR_PATCH_NAMES
    bar_y = CARD_HEIGHT_MM / 2 + 4.0
    bar = ((CARD_WIDTH_MM / 2 - SCALE_BAR_MM / 2, bar_y), (CARD_WIDTH_MM / 2 + SCALE_BAR_MM / 2, bar_y))
    return CardLayout(markers, centres, names, np.array(GREY_RAMP_SRGB8 + COLOUR_PATCHES_SRGB8, float),
                      tuple(range(6)), bar)


def render_card(px_per_mm: float) -> np.ndarray:
    """Draw the card as an 8-bit sRGB image (print it at ``px_per_mm * 25.4`` dpi).

    Parameters
    ----------
    px_per_mm : float
        Resolution, e.g. 600 dpi = 23.62 px/mm.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8.
    """
    layout = card_layout()
    w, h = round(CARD_WIDTH_MM * px_per_mm), round(CARD_HEIGHT_MM * px_per_mm)
    card = np.full((h, w, 3), 250, np.uint8)
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICTIONARY)
    side = round(MARKER_MM * px_per_mm)
    for marker_id, corners in layout.marker_corners_mm.items():
        x, y = np.round(corners[0] * px_per_mm).astype(int)
        marker = cv2.aruco.generateImageMarker(dictionary, marker_id, side)
        card[y:y + side, x:x + side] = marker[:, :, None]
    half = PATCH_MM / 2 * px_per_mm
    for (cx, cy), rgb in zip(layout.patch_centres_mm * px_per_mm, layout.patch_srgb8):
        card[round(cy - half):round(cy + half), round(cx - half):round(cx + half)] = rgb.astype(np.uint8)
    (x0, y0), (x1, _) = (np.array(p) * px_per_mm for p in layout.scale_bar_mm)
    thick = max(1, round(0.4 * px_per_mm))
    cv2.line(card, (round(x0), round(y0)), (round(x1), round(y0)), (0, 0, 0), thick)
    for x in np.linspace(x0, x1, 6):
        cv2.line(card, (round(x), round(y0 - 1.5 * px_per_mm)), (round(x), round(y0)), (0, 0, 0), thick)
    font_scale = 0.09 * px_per_mm
    cv2.putText(card, f"{CARD_NAME}   {SCALE_BAR_MM:g} mm", (round(x0), round(y0 + 4.5 * px_per_mm)),
                cv2.FONT_HERSHEY_SIMPLEX, font_scale / 3, (0, 0, 0), max(1, thick // 2), cv2.LINE_AA)
    cv2.putText(card, "print at 100 % scale; check the bar is 50 mm", (round(x0), round(y0 - 2.5 * px_per_mm)),
                cv2.FONT_HERSHEY_SIMPLEX, font_scale / 4, (60, 60, 60), max(1, thick // 3), cv2.LINE_AA)
    return card


@dataclass(frozen=True)
class CardFit:
    """The card found in an image."""

    card_to_image: np.ndarray
    """3x3 homography, card millimetres -> image pixels."""
    corners_px: np.ndarray
    """``(4, 2)`` card corners in the image (top-left, top-right, bottom-right, bottom-left)."""
    markers_found: tuple[int, ...]
    reprojection_px: float
    """RMS distance of the marker corners from the fitted homography."""


def find_project_card(grey: np.ndarray) -> CardFit | None:
    """Find the PS-1 card by its ArUco markers.

    Parameters
    ----------
    grey : numpy.ndarray
        ``(H, W)`` uint8 image.

    Returns
    -------
    CardFit or None
        ``None`` when fewer than two of the card's markers are visible.
    """
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(ARUCO_DICTIONARY),
                                       _detector_parameters())
    corners, ids, _ = detector.detectMarkers(grey)
    if ids is None:
        return None
    layout = card_layout()
    src, dst, found = [], [], []
    for marker_corners, marker_id in zip(corners, ids.ravel()):
        if int(marker_id) in layout.marker_corners_mm and int(marker_id) not in found:
            found.append(int(marker_id))
            src.append(layout.marker_corners_mm[int(marker_id)])
            dst.append(marker_corners.reshape(4, 2))
    if len(found) < 2:
        return None
    src_pts, dst_pts = np.concatenate(src), np.concatenate(dst).astype(np.float64)
    homography, _ = cv2.findHomography(src_pts, dst_pts, 0)
    if homography is None:
        return None
    projected = cv2.perspectiveTransform(src_pts.reshape(-1, 1, 2), homography).reshape(-1, 2)
    rms = float(np.sqrt(np.mean(np.sum((projected - dst_pts) ** 2, axis=1))))
    card = np.array([[0, 0], [CARD_WIDTH_MM, 0], [CARD_WIDTH_MM, CARD_HEIGHT_MM], [0, CARD_HEIGHT_MM]], float)
    corners_px = cv2.perspectiveTransform(card.reshape(-1, 1, 2), homography).reshape(-1, 2)
    return CardFit(homography / homography[2, 2], corners_px, tuple(sorted(found)), round(rms, 3))


def _detector_parameters() -> cv2.aruco.DetectorParameters:
    params = cv2.aruco.DetectorParameters()
    # Sub-pixel corners: the scale comes from them.
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    return params
