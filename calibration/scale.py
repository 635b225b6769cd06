"""Scale and pose from a card of known geometry.

The card-to-image homography of a plane card is ``H = K [r1 r2 t]`` (Zhang 2000, "A
flexible new technique for camera calibration", IEEE TPAMI 22(11)): with the camera matrix
``K`` the card's rotation, and so its tilt against the image plane, follows; the local scale
is the Jacobian of ``H`` at a point.
"""
from __future__ import annotations

import math

import numpy as np


def mm_per_px_at(card_to_image: np.ndarray, point_mm: tuple[float, float]) -> float:
    """Millimetres per image pixel at a card point (isotropic: sqrt of the Jacobian's determinant).

    Parameters
    ----------
    card_to_image : numpy.ndarray
        3x3 homography, card millimetres -> image pixels.
    point_mm : tuple of float
        Where on the card (in card millimetres).
    """
    h = np.asarray(card_to_image, float)
    x, y = point_mm
    u, v, s = h @ np.array([x, y, 1.0])
    jac = (h[:2, :2] * s - np.outer([u, v], h[2, :2])) / (s * s)
    return float(1.0 / math.sqrt(abs(np.linalg.det(jac))))


def card_tilt_deg(card_to_image: np.ndarray, camera_matrix: np.ndarray) -> float:
    """Angle between the card's plane and the image plane, in degrees.

    Parameters
    ----------
    card_to_image : numpy.ndarray
        3x3 homography, card millimetres -> image pixels.
    camera_matrix : numpy.ndarray
        3x3 intrinsic matrix ``K`` of the image.
    """
    m = np.linalg.inv(camera_matrix) @ np.asarray(card_to_image, float)
    r1, r2 = m[:, 0], m[:, 1]
    scale = (np.linalg.norm(r1) + np.linalg.norm(r2)) / 2.0
    r1, r2 = r1 / scale, r2 / scale
    normal = np.cross(r1, r2)
    normal /= np.linalg.norm(normal)
    return float(math.degrees(math.acos(min(1.0, abs(normal[2])))))
