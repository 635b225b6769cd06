"""The camera pose from a registration homography, on the installed OpenCV.

`photostation.qa.pose.decompose` relies on two OpenCV functions whose answers changed between
releases (`decomposeHomographyMat` answers a pure rotation with one solution without a
normal; `filterHomographyDecompByVisibleRefpoints` answers "none visible" with None up to 5.0
and with an empty array from 5.1). These tests build homographies from a known camera motion
(Hartley & Zisserman 2004, result 13.1) so that any release answering differently in a way
the code relies on fails here, not at a photographer's station.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import photostation.shot as shot_module
from photostation.qa.pose import Intrinsics, NoPhysicalPose, decompose
from photostation.qa.registration import Registration

SIZE = (1600, 1200)
K = Intrinsics(1500.0, "test")


def _rotation(tilt_deg: float, tilt_axis_deg: float, roll_deg: float) -> np.ndarray:
    """Roll about the optical axis after a tilt about an in-plane axis at ``tilt_axis_deg``."""
    a = math.radians(tilt_axis_deg)
    axis = np.array([math.cos(a), math.sin(a), 0.0]) * math.radians(tilt_deg)
    tilt = cv2.Rodrigues(axis)[0]
    roll = cv2.Rodrigues(np.array([0.0, 0.0, math.radians(roll_deg)]))[0]
    return roll @ tilt


def _follow_to_base(rotation: np.ndarray, translation) -> np.ndarray:
    """Homography follow-up px -> baseline px of the scalp plane z = 1 in the baseline camera.

    A baseline camera point X maps to the follow-up camera as R X + t; on the plane
    n.X = 1 with n = (0, 0, 1) that is (R + t n^T) X.
    """
    k = K.matrix(SIZE)
    t = np.asarray(translation, dtype=np.float64).reshape(3, 1)
    base_to_follow = k @ (rotation + t @ np.array([[0.0, 0.0, 1.0]])) @ np.linalg.inv(k)
    matrix = np.linalg.inv(base_to_follow)
    return matrix / matrix[2, 2]


@pytest.mark.parametrize("tilt_deg,axis_deg,roll_deg,translation", [
    (12.0, 0.0, 0.0, (0.02, 0.01, 0.0)),      # tilted, the camera also moved
    (8.0, 30.0, 5.0, (0.0, 0.03, 0.05)),      # tilted, rolled and farther
    (4.0, 90.0, -3.0, (0.01, 0.0, -0.1)),     # tilted, rolled and closer
    (6.0, 45.0, 2.0, (0.0, 0.0, 0.0)),        # turned about the lens centre: a pure rotation
    (0.0, 0.0, 15.0, (0.0, 0.0, 0.0)),        # rolled only, pure rotation
])
def test_known_camera_motion_is_recovered(tilt_deg, axis_deg, roll_deg, translation):
    matrix = _follow_to_base(_rotation(tilt_deg, axis_deg, roll_deg), translation)
    pose = decompose(matrix, SIZE, SIZE, K, K)
    assert pose.tilt_deg == pytest.approx(tilt_deg, abs=0.05)
    # R turns the scene by +roll about the optical axis in the follow-up camera: with image y
    # pointing down, the scalp appears turned clockwise by that angle, which roll_deg reports.
    assert pose.roll_deg == pytest.approx(roll_deg, abs=0.05)


def test_magnification_follows_the_distance():
    closer = decompose(_follow_to_base(np.eye(3), (0.0, 0.0, -0.1)), SIZE, SIZE, K, K)
    assert closer.tilt_deg == pytest.approx(0.0, abs=0.05)
    assert closer.scale_pct == pytest.approx(100 * (1 / 0.9 - 1), abs=0.05)
    assert closer.distance_change_pct == pytest.approx(-10.0, abs=0.05)


def test_mirrored_follow_up_has_no_camera_pose():
    w = SIZE[0]
    mirror = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(NoPhysicalPose, match="mirror"):
        decompose(mirror, SIZE, SIZE, K, K)


def test_registration_through_the_horizon_has_no_camera_pose():
    # The lower part of the frame maps through the line at infinity (w' < 0 below y = 333):
    # no plane in front of both cameras can look like that.
    horizon = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -0.003, 1.0]])
    with pytest.raises(NoPhysicalPose, match="in front of both cameras"):
        decompose(horizon, SIZE, SIZE, K, K)


def test_check_reports_an_impossible_registration_instead_of_failing(tmp_path, monkeypatch, protocol):
    """`check --baseline` on a pair whose registration no camera can produce: a failed
    `pose.registration` with the reason, never an internal error."""
    from .test_shot_qa import BASE_TIME, EXIF, render
    from dataclasses import replace
    import datetime as dt
    from photostation.synthetic import make_scalp_patch, write_jpeg
    from .conftest import NOW

    patch = make_scalp_patch(np.random.default_rng(3), 16.0, 16.0, density_per_cm2=170, vellus_share=0.1)
    base = write_jpeg(tmp_path / "P1" / "baseline" / "tricho-vertex.jpg", render(patch), EXIF)
    follow = write_jpeg(tmp_path / "P1" / "month-6" / "tricho-vertex.jpg", render(patch, seed=1),
                        replace(EXIF, captured_at=BASE_TIME + dt.timedelta(days=182)))

    def through_the_horizon(follow_pixels, base_pixels, rules, skin_only=True):
        matrix = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -0.004, 1.0]])
        return Registration(matrix, inliers=120, matches=150, residual_px=0.4, overlap_pct=90.0)

    monkeypatch.setattr(shot_module, "register_shots", through_the_horizon)
    report = shot_module.check_photo(follow, protocol, baseline=base, now=NOW)
    checks = {c.name: c for c in report.checks}
    registration = checks["pose.registration"]
    assert registration.status == "fail"
    assert "in front of both cameras" in registration.message
    assert not any(name in checks for name in ("pose.roll_deg", "pose.tilt_deg", "pose.scale_pct"))
    assert report.verdict == "fail"
