"""Camera angle, distance and framing of a follow-up shot relative to its baseline, from the
registration homography and the camera intrinsics.

The homography of a plane seen by two pinhole cameras is ``H = K_b (R + t n^T / d) K_f^-1``
(Hartley & Zisserman 2004, result 13.1); it is decomposed (Malis & Vargas 2007, INRIA
RR-6303, as implemented by OpenCV) into the rotation between the two shots. Of the
physically possible solutions (scalp in front of both cameras) the one whose scalp normal is
closest to the optical axis is taken: the protocol puts the camera square to the scalp.
When the camera only turned about its centre, ``H = K_b R K_f^-1`` and OpenCV returns the one
rotation with no translation and no normal; that rotation is the answer. When no solution
keeps the scalp in front of both cameras (a mirrored image, a registration that maps part of
the frame through the horizon) there is no camera pose to report: :class:`NoPhysicalPose`.
Intrinsics come from EXIF: the 35 mm-equivalent focal length, or the focal length and the
sensor size from the focal-plane resolution; when neither is known a 50 mm-equivalent
(normal) lens is assumed, and the result says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from photostation.qa.registration import jacobian

ASSUMED_FOCAL_35MM = 50.0
_EDGES = {"top": (0.5, 0.0), "bottom": (0.5, 1.0), "left": (0.0, 0.5), "right": (1.0, 0.5)}


@dataclass(frozen=True)
class Intrinsics:
    focal_px: float
    """Focal length in pixels of the image the homography refers to."""
    source: str
    """Where the focal length came from (or the assumption made)."""

    def matrix(self, size: tuple[int, int]) -> np.ndarray:
        w, h = size
        return np.array([[self.focal_px, 0, (w - 1) / 2.0], [0, self.focal_px, (h - 1) / 2.0], [0, 0, 1.0]])


def intrinsics_from_exif(size: tuple[int, int], focal_length_35mm: float | None, focal_length_mm: float | None,
                         sensor_long_side_mm: float | None) -> Intrinsics:
    """Focal length in pixels for an image of ``size`` (width, height) from EXIF values.

    The 35 mm equivalent refers to the 36 mm long side of a full-frame sensor, so it is
    applied to the image's long side.
    """
    long_side = float(max(size))
    if focal_length_35mm:
        return Intrinsics(focal_length_35mm / 36.0 * long_side, f"EXIF 35 mm-equivalent {focal_length_35mm:g} mm")
    if focal_length_mm and sensor_long_side_mm:
        return Intrinsics(focal_length_mm / sensor_long_side_mm * long_side,
                          f"EXIF focal length {focal_length_mm:g} mm on a {sensor_long_side_mm:.1f} mm sensor")
    return Intrinsics(ASSUMED_FOCAL_35MM / 36.0 * long_side,
                      f"focal length unknown: assumed a {ASSUMED_FOCAL_35MM:g} mm-equivalent lens")


class NoPhysicalPose(ValueError):
    """No camera motion explains the homography with the scalp in front of both cameras."""


@dataclass(frozen=True)
class PoseChange:
    """How the follow-up camera differs from the baseline camera."""

    roll_deg: float
    """The scalp appears rotated clockwise on screen by this angle in the follow-up."""
    tilt_deg: float
    """Angle between the two shots' optical axes (out-of-plane tilt)."""
    farther_edge: str | None
    """Frame edge that is farther from the scalp than at baseline ('top', 'left', ...)."""
    scale_pct: float
    """Magnification change at the image centre: + the scalp appears larger (camera closer)."""
    distance_change_pct: float
    """Camera-to-scalp distance change: - closer, + farther."""
    shift_px: tuple[float, float]
    """Where the follow-up's centre lands in the baseline, relative to the baseline's centre (px)."""
    shift_pct: float
    """Length of ``shift_px`` in % of the baseline image diagonal."""
    intrinsics: str


def _rotation_angles(rotation: np.ndarray) -> tuple[float, float]:
    # Roll: the rotation about the optical axis; tilt: the angle between the optical axes.
    roll = math.degrees(math.atan2(rotation[1, 0] - rotation[0, 1], rotation[0, 0] + rotation[1, 1]))
    tilt = math.degrees(math.acos(float(np.clip(rotation[2, 2], -1.0, 1.0))))
    return roll, tilt


def _pure_rotation(count: int, rotations, translations) -> np.ndarray | None:
    """The rotation of a decomposition without translation (camera turned about its centre).

    OpenCV returns a single solution with zero translation and zero normal when the
    normalised homography is itself orthogonal; a mirrored image is orthogonal too, with
    determinant -1, and is no camera motion at all.
    """
    if count != 1 or float(np.linalg.norm(translations[0])) > 1e-9:
        return None
    rotation = np.asarray(rotations[0], dtype=np.float64)
    if np.linalg.det(rotation) < 0:
        raise NoPhysicalPose("the follow-up is a mirror image of the baseline: no camera pose explains it")
    return rotation


def decompose(matrix: np.ndarray, follow_size: tuple[int, int], base_size: tuple[int, int],
              follow_k: Intrinsics, base_k: Intrinsics, points: np.ndarray | None = None) -> PoseChange:
    """Decompose a follow-up-to-baseline homography into the camera change.

    Parameters
    ----------
    matrix : numpy.ndarray
        3x3 homography, follow-up pixels -> baseline pixels.
    follow_size, base_size : tuple of int
        ``(width, height)`` of the two images the homography refers to.
    follow_k, base_k : Intrinsics
        Camera intrinsics of the two images.
    points : numpy.ndarray, optional
        ``(N, 2)`` follow-up pixel points on the scalp (default: a grid over the frame),
        used to keep only decompositions with the scalp in front of both cameras.

    Returns
    -------
    PoseChange

    Raises
    ------
    NoPhysicalPose
        When no decomposition keeps the scalp in front of both cameras.
    """
    kf, kb = follow_k.matrix(follow_size), base_k.matrix(base_size)
    normalised = np.linalg.inv(kb) @ matrix @ kf
    normalised /= np.linalg.svd(normalised, compute_uv=False)[1]
    count, rotations, translations, normals = cv2.decomposeHomographyMat(normalised, np.eye(3))
    w, h = follow_size
    if points is None:
        gx, gy = np.meshgrid(np.linspace(0, w - 1, 5), np.linspace(0, h - 1, 5))
        points = np.column_stack([gx.ravel(), gy.ravel()])
    before = cv2.undistortPoints(points.reshape(-1, 1, 2).astype(np.float64), kf, None)
    after = cv2.undistortPoints(cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), matrix),
                                kb, None)
    rotation = _pure_rotation(count, rotations, translations)
    if rotation is None:
        # OpenCV answers "none visible" with None up to 5.0 and with an empty array from 5.1.
        visible = cv2.filterHomographyDecompByVisibleRefpoints(rotations, normals, before.astype(np.float32),
                                                               after.astype(np.float32))
        candidates = [] if visible is None else [int(i) for i in np.asarray(visible).ravel()]
        if not candidates:
            raise NoPhysicalPose("no camera pose keeps the scalp in front of both cameras "
                                 f"(of {count} decompositions of the registration)")
        rotation = rotations[max(candidates, key=lambda i: abs(float(normals[i][2, 0])))]
    # decomposeHomographyMat gives the rotation taking follow-up camera coordinates to the
    # baseline camera; the scalp then appears turned the other way in the follow-up.
    roll, tilt = _rotation_angles(rotation)
    roll = -roll

    centre_f = ((w - 1) / 2.0, (h - 1) / 2.0)
    magnification = 1.0 / math.sqrt(abs(float(np.linalg.det(jacobian(matrix, centre_f)))))
    edge_magnification = {name: 1.0 / math.sqrt(abs(float(np.linalg.det(jacobian(matrix, (fx * (w - 1), fy * (h - 1)))))))
                          for name, (fx, fy) in _EDGES.items()}
    farther = min(edge_magnification, key=edge_magnification.get) if tilt >= 0.5 else None

    centre_in_base = cv2.perspectiveTransform(np.array([[centre_f]], np.float64), matrix).reshape(2)
    bw, bh = base_size
    shift = centre_in_base - np.array([(bw - 1) / 2.0, (bh - 1) / 2.0])
    return PoseChange(
        roll_deg=round(roll, 3), tilt_deg=round(tilt, 3), farther_edge=farther,
        scale_pct=round(100.0 * (magnification - 1.0), 3),
        distance_change_pct=round(100.0 * (1.0 / magnification - 1.0), 3),
        shift_px=(round(float(shift[0]), 2), round(float(shift[1]), 2)),
        shift_pct=round(100.0 * float(np.hypot(*shift)) / float(np.hypot(bw, bh)), 3),
        intrinsics=follow_k.source,
    )
