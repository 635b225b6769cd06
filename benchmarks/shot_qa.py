"""Shot-QA benchmark: drift detection, pose accuracy and speed of ``photostation check``.

Every photo is rendered by photostation's own renderer (:mod:`photostation.synthetic`),
written as a JPEG with camera EXIF, and checked with
:func:`photostation.shot.check_photo` against its baseline, exactly as
``photostation check FOLLOW --baseline BASE`` does. Three parts:

1. **Drift detection.** Baseline/month-6 pairs of three kinds of view (clipped
   trichoscopy ``tricho-vertex``, unclipped trichoscopy ``tricho-midscalp``, crown
   ``vertex``). Clean pairs carry only natural repositioning and lighting variation;
   drifted pairs carry exactly one injected drift each (exposure, colour cast, rotation,
   tilt, distance, blur, glare, uneven light, camera settings, timestamps). A pair is
   *flagged* when the verdict is ``warn`` or ``fail``. Targets: >= 95 % of drifted pairs
   flagged, <= 5 % of clean pairs flagged.
2. **Pose accuracy.** Pairs with known pose differences (roll -20..20 deg, tilt
   0..12 deg, scale 0.85..1.15). The truth comes from the renderer's camera model only
   (:func:`photostation.synthetic.camera.camera_extrinsics` and the scalp-to-image
   homographies), never from photostation's estimates. Targets: 95th percentile of the
   angle errors <= 1 deg and of the scale error <= 1 %.
3. **Speed.** ``check_photo`` on a 24-megapixel pair against one plain full-resolution
   Pillow decode of the follow-up. Target: ratio <= 1.5.

Run ``.venv/bin/python benchmarks/shot_qa.py [--quick] [--seed N] [--out FILE]``.
The numbers describe rendered images, not real clinic photos (see the README).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
# Run as a script, this folder comes first on sys.path, and benchmarks/calibration.py would
# shadow the ``calibration`` package: put the repository first instead.
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from photostation.protocol import Protocol, load_protocol
from photostation.shot import check_photo
from photostation.synthetic import (CrownHead, Lighting, Optics, Pose,
                                    evolve_crown, evolve_patch, make_scalp_patch,
                                    render_crown, render_trichoscopy, write_jpeg)
from photostation.synthetic.camera import (camera_extrinsics, illumination_field,
                                           local_px_per_mm, project_points)
from photostation.synthetic.crown import CROWN_FOCAL_LENGTH_35MM
from photostation.synthetic.trichoscopy import TRICHO_FOCAL_LENGTH_35MM
from benchmarks.records import benchmark_parser, photo_folder, write_results
from benchmarks.sessions import (INTERVAL_DAYS, RELAY_DEG, aware, camera_exif, capture_times,
                                 natural_baseline_pose, natural_followup_pose,
                                 natural_lighting_pair, Shot)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "shot_qa.json"

IMAGE_SIZE = (1600, 1200)
NOW = datetime(2026, 11, 22, 0, 0, tzinfo=timezone.utc)
VISIT = "month-6"
LIGHTROOM = "Adobe Photoshop Lightroom Classic 13.1"
JPEG_QUALITY = 88                # what the devices of the sample archive write

TARGET_DRIFT_FLAGGED_PCT = 95.0
TARGET_CLEAN_FLAGGED_PCT = 5.0
TARGET_ANGLE_ERROR_DEG = 1.0
TARGET_SCALE_ERROR_PCT = 1.0
TARGET_SPEED_RATIO = 1.5

SPEED_SIZE = (6000, 4000)        # 24 MP, as a Canon EOS R8 writes it
SPEED_RENDER_SIZE = (3000, 2000)  # rendered here, then upscaled 2x
SPEED_JPEG_QUALITY = 92
SPEED_REPEATS = 5

# Cases per kind of view: clean pairs, drifted pairs per drift type, known-pose pairs.
COUNTS = {"full": {"clean": 20, "drift": 3, "pose": 20},
          "quick": {"clean": 3, "drift": 1, "pose": 3}}

FLAGGED = ("warn", "fail")


# --------------------------------------------------------------------------- set-up

@dataclass(frozen=True)
class Kind:
    """One kind of view: how it is rendered and which camera takes it."""

    view: str
    family: str                  # "trichoscopy" or "crown"
    clipped: bool
    field_width_mm: float
    focal_length_35mm: float
    vignetting: float


KINDS = {
    "tricho-vertex": Kind("tricho-vertex", "trichoscopy", True, 10.0, TRICHO_FOCAL_LENGTH_35MM, 0.22),
    "tricho-midscalp": Kind("tricho-midscalp", "trichoscopy", False, 10.0, TRICHO_FOCAL_LENGTH_35MM, 0.22),
    "vertex": Kind("vertex", "crown", False, 260.0, CROWN_FOCAL_LENGTH_35MM, 0.12),
}


@dataclass(frozen=True)
class PairCase:
    """A baseline/follow-up pair to render and check.

    ``expected`` lists the checks that should catch the injected drift (any of them
    firing counts as a specific detection); empty for clean and known-pose pairs.
    """

    case_id: str
    group: str                   # "clean", "drift" or "pose"
    kind: str
    drift: str                   # "none" or a key of DRIFTS
    variant: str
    detail: str
    seed: tuple[int, ...]
    baseline: Shot
    followup: Shot
    expected: tuple[str, ...] = ()


def clean_pair(rng: np.random.Generator, kind: Kind) -> tuple[Shot, Shot]:
    """A comparable pair: natural pose and light variation, same optics and camera."""
    base_pose = natural_baseline_pose(rng, kind)
    follow_pose = natural_followup_pose(rng, kind, base_pose)
    base_light, follow_light = natural_lighting_pair(rng, kind)
    base_time, follow_time = capture_times(rng)
    return (Shot(base_pose, base_light, Optics(), camera_exif(kind, base_time, IMAGE_SIZE)),
            Shot(follow_pose, follow_light, Optics(), camera_exif(kind, follow_time, IMAGE_SIZE)))


# --------------------------------------------------------------------------- drifts

# A drift takes (rng, k, kind, baseline, clean follow-up) and returns the drifted
# follow-up, a variant label, a description and the checks expected to catch it.
# ``k`` counts the drift's cases (``i * 3 + kind index``): discrete variants (sign,
# setting, kind of timestamp problem) cycle with it so that every variant is covered, on
# every kind of view; magnitudes and axes come from rng.
DriftResult = tuple[Shot, str, str, tuple[str, ...]]


def one_of_three(k: int) -> int:
    """Variant 0, 1 or 2 for case ``k``: cycles over consecutive cases and, for a fixed
    kind of view (``k % 3``), over its successive cases too."""
    return (k + k // len(KINDS)) % 3


def _with_light(shot: Shot, **changes: Any) -> Shot:
    return replace(shot, lighting=replace(shot.lighting, **changes))


def _with_pose(shot: Shot, **changes: Any) -> Shot:
    return replace(shot, pose=replace(shot.pose, **changes))


def _with_exif(shot: Shot, **changes: Any) -> Shot:
    return replace(shot, exif=replace(shot.exif, **changes))


def drift_exposure_plus(rng, k, kind, base, follow) -> DriftResult:
    """Overexposed by 0.7 EV (flash power, distance to the light)."""
    ev = follow.lighting.exposure_ev + 0.7
    return (_with_light(follow, exposure_ev=ev), "+0.7EV", "exposure +0.7 EV",
            ("exposure.difference_ev",))


def drift_exposure_minus(rng, k, kind, base, follow) -> DriftResult:
    """Underexposed by 0.7 EV."""
    ev = follow.lighting.exposure_ev - 0.7
    return (_with_light(follow, exposure_ev=ev), "-0.7EV", "exposure -0.7 EV",
            ("exposure.difference_ev",))


def drift_colour_cast(rng, k, kind, base, follow) -> DriftResult:
    """Strong cast: +-60 mired (warm room light / cold daylight) or a +-0.3 tint."""
    if one_of_three(k) != 2:
        sign = 1.0 if k % 2 == 0 else -1.0
        mired = follow.lighting.white_balance_shift_mired + 60.0 * sign
        return (_with_light(follow, white_balance_shift_mired=mired), f"{60 * sign:+.0f}mired",
                f"colour temperature {60 * sign:+.0f} mired", ("white_balance.shift_mired",))
    sign = 1.0 if (k // len(KINDS)) % 2 == 0 else -1.0
    return (_with_light(follow, tint=0.3 * sign), f"tint{0.3 * sign:+.1f}",
            f"tint {0.3 * sign:+.1f} (green gain x{2 ** (-0.3 * sign):.2f})",
            ("white_balance.shift_mired",))


def drift_rotation(rng, k, kind, base, follow) -> DriftResult:
    """Camera rolled by 15 deg about its axis."""
    sign = 1.0 if k % 2 == 0 else -1.0
    return (_with_pose(follow, rotation_deg=base.pose.rotation_deg + 15.0 * sign),
            f"{15 * sign:+.0f}deg", f"roll {15 * sign:+.0f} deg", ("pose.roll_deg",))


def drift_tilt(rng, k, kind, base, follow) -> DriftResult:
    """Camera tilted 12 deg out of plane about a random axis."""
    axis = float(rng.uniform(0, 180))
    return (_with_pose(follow, tilt_deg=12.0, tilt_axis_deg=axis), f"axis{axis:.0f}",
            f"tilt 12 deg about the {axis:.0f} deg axis", ("pose.tilt_deg",))


def drift_distance(rng, k, kind, base, follow) -> DriftResult:
    """Camera 15 % closer or further (magnification x1.15 or /1.15)."""
    factor = 1.15 if k % 2 == 0 else 1 / 1.15
    return (_with_pose(follow, scale=base.pose.scale * factor), f"x{factor:.3f}",
            f"magnification x{factor:.3f}", ("pose.scale_pct",))


def drift_blur(rng, k, kind, base, follow) -> DriftResult:
    """Out of focus: Gaussian defocus of 3 px."""
    return (replace(follow, optics=replace(follow.optics, blur_sigma_px=3.0)), "sigma3px",
            "defocus sigma 3 px", ("focus.ratio",))


def drift_glare(rng, k, kind, base, follow) -> DriftResult:
    """Wet or oily hair: strong specular highlights."""
    g = float(rng.uniform(0.6, 0.9))
    return (_with_light(follow, glare=g), f"glare{g:.2f}", f"glare {g:.2f}", ("glare.share_pct",))


def drift_uneven_light(rng, k, kind, base, follow) -> DriftResult:
    """One side 50 % darker (flash moved or failed on one side)."""
    direction = float(rng.uniform(0, 360))
    return (_with_light(follow, gradient_strength=0.5, gradient_direction_deg=direction),
            f"dir{direction:.0f}", f"side at {direction:.0f} deg 50 % darker", ("lighting.change",))


def drift_camera_settings(rng, k, kind, base, follow) -> DriftResult:
    """A fixed setting changed: ISO x4 (noisier), shutter 2 stops longer, or auto WB."""
    choice = one_of_three(k)
    if choice == 0:
        noisier = replace(follow.optics, noise_sigma=2 * follow.optics.noise_sigma)
        return (replace(_with_exif(follow, iso=400), optics=noisier), "iso400", "ISO 100 -> 400",
                ("camera.iso",))
    if choice == 1:
        t = Fraction(follow.exif.exposure_time_s) * 4
        return (_with_exif(follow, exposure_time_s=t), "shutter+2", f"shutter -> {t} s",
                ("camera.exposure_time_s",))
    return (_with_exif(follow, white_balance="auto"), "wb-auto", "white balance manual -> auto",
            ("camera.white_balance", "protocol.white_balance"))


def drift_timestamp(rng, k, kind, base, follow) -> DriftResult:
    """Re-saved by an editor, captured before the baseline, or outside the window."""
    choice = one_of_three(k)
    captured = follow.exif.captured_at
    if choice == 0:
        later = captured + timedelta(days=3, minutes=17)
        return (_with_exif(follow, modified_at=later, software=LIGHTROOM), "edited",
                "DateTime 3 days after DateTimeOriginal, Software Lightroom",
                ("timestamp.modified_after_capture", "metadata.editing_software"))
    if choice == 1:
        before = base.exif.captured_at - timedelta(days=int(rng.integers(1, 30)))
        return (_with_exif(follow, captured_at=before), "before-baseline",
                "captured before the baseline", ("timestamp.order",))
    days = 230 if (k // len(KINDS)) % 2 == 0 else 135
    outside = aware(base.exif.captured_at.replace(tzinfo=None) + timedelta(days=days, hours=1))
    return (_with_exif(follow, captured_at=outside), f"day{days}",
            f"captured on day {days} (window 161-203)", ("schedule.window",))


DRIFTS: dict[str, Callable[..., DriftResult]] = {
    "exposure_plus": drift_exposure_plus,
    "exposure_minus": drift_exposure_minus,
    "colour_cast": drift_colour_cast,
    "rotation": drift_rotation,
    "tilt": drift_tilt,
    "distance": drift_distance,
    "blur": drift_blur,
    "glare": drift_glare,
    "uneven_light": drift_uneven_light,
    "camera_settings": drift_camera_settings,
    "timestamp": drift_timestamp,
}


def known_pose_followup(rng: np.random.Generator, kind: Kind, base: Shot, follow: Shot) -> Shot:
    """Follow-up for the accuracy set: roll -20..20, tilt 0..12 (random axis), scale
    0.85..1.15 relative to the baseline, aim moved by up to 2 % of the field."""
    return _with_pose(follow, rotation_deg=base.pose.rotation_deg + float(rng.uniform(-20, 20)),
                      tilt_deg=float(rng.uniform(0, 12)), tilt_axis_deg=float(rng.uniform(0, 180)),
                      scale=base.pose.scale * float(rng.uniform(0.85, 1.15)))


def build_cases(seed: int, counts: dict[str, int]) -> list[PairCase]:
    """All pairs of the run, deterministic in ``seed``."""
    cases: list[PairCase] = []
    for ki, (name, kind) in enumerate(KINDS.items()):
        for i in range(counts["clean"]):
            s = (seed, 1, ki, i)
            base, follow = clean_pair(np.random.default_rng(s), kind)
            cases.append(PairCase(f"clean-{name}-{i:02d}", "clean", name, "none", "", "natural variation",
                                  s, base, follow))
        for di, (drift, make) in enumerate(DRIFTS.items()):
            for i in range(counts["drift"]):
                s = (seed, 2, ki, di, i)
                rng = np.random.default_rng(s)
                base, follow = clean_pair(rng, kind)
                follow, variant, detail, expected = make(rng, ki + len(KINDS) * i, kind, base, follow)
                cases.append(PairCase(f"{drift}-{name}-{i:02d}", "drift", name, drift, variant, detail,
                                      s, base, follow, expected))
        for i in range(counts["pose"]):
            s = (seed, 3, ki, i)
            rng = np.random.default_rng(s)
            base, follow = clean_pair(rng, kind)
            follow = known_pose_followup(rng, kind, base, follow)
            cases.append(PairCase(f"pose-{name}-{i:02d}", "pose", name, "none", "", "known pose",
                                  s, base, follow))
    return cases


# --------------------------------------------------------------------------- rendering

def make_scenes(kind: Kind, rng: np.random.Generator) -> tuple[Any, Any, dict[str, Any]]:
    """A random scalp (patch or head), the same scalp ~182 days later, and a description."""
    colour = str(rng.choice(["black", "dark_brown", "brown", "auburn", "blond", "grey"],
                            p=[0.2, 0.3, 0.2, 0.1, 0.1, 0.1]))
    melanin = float(rng.uniform(0.1, 0.6))
    if kind.family == "crown":
        head = CrownHead(thinning_severity=float(rng.uniform(0.3, 0.85)), hair_colour=colour,
                         skin_melanin=melanin, whorl_mm=(float(rng.normal(6, 3)), float(rng.normal(30, 4))),
                         whorl_clockwise=bool(rng.uniform() < 0.5), seed=int(rng.integers(0, 2**31)))
        info = {"hair_colour": colour, "skin_melanin": melanin,
                "thinning_severity": head.thinning_severity}
        return head, evolve_crown(head, rng, float(rng.uniform(-2, 4)), days=INTERVAL_DAYS), info
    density, redness = float(rng.uniform(110, 220)), float(rng.uniform(0.2, 0.45))
    patch = make_scalp_patch(rng, 20.0, 20.0, density,
                             float(rng.uniform(0.05, 0.2)), hair_colour=colour, melanin=melanin,
                             redness=redness,
                             comb_direction_deg=float(rng.uniform(0, 180)))
    follow, _ = evolve_patch(patch, rng, days=INTERVAL_DAYS,
                             density_change_pct=float(rng.uniform(-4, 8)),
                             width_change_um=float(rng.uniform(-2, 3)),
                             relay_deg=0.0 if kind.clipped else RELAY_DEG)
    info = {"hair_colour": colour, "skin_melanin": melanin, "skin_redness": redness,
            "density_per_cm2": density}
    return patch, follow, info


def render_shot(kind: Kind, scene: Any, shot: Shot, rng: np.random.Generator,
                image_size: tuple[int, int] = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Render one photo; returns the sRGB image and its scalp-to-image homography."""
    if kind.family == "crown":
        r = render_crown(scene, shot.pose, shot.lighting, shot.optics, image_size=image_size,
                         field_width_mm=kind.field_width_mm, rng=rng)
    else:
        r = render_trichoscopy(scene, shot.pose, shot.lighting, shot.optics, image_size=image_size,
                               field_width_mm=kind.field_width_mm, clipped=kind.clipped, rng=rng)
    return r.image, r.scalp_to_image


# --------------------------------------------------------------------------- truth

def twist_angle_deg(r_rel: np.ndarray) -> float:
    """Rotation about the optical axis (z) contained in a relative camera rotation.

    Swing-twist decomposition ``R = S @ Rz(phi)``: ``S`` is the smallest rotation taking
    the optical axis to ``R @ z`` (its axis lies in the image plane), and ``phi`` is the
    roll. ``phi`` is the same for ``Rz(phi) @ S'``, so the order in which the renderer
    composes tilt and roll does not matter. Sign: as :class:`Pose` ``rotation_deg``
    (scalp turned clockwise on screen, from +x towards +y).
    """
    z = r_rel[:, 2]
    axis = np.cross([0.0, 0.0, 1.0], z)
    s = float(np.linalg.norm(axis))
    swing = np.eye(3)
    if s > 1e-12:
        swing, _ = cv2.Rodrigues(axis / s * math.atan2(s, float(z[2])))
    twist = swing.T @ r_rel
    return math.degrees(math.atan2(twist[1, 0], twist[0, 0]))


def pose_truth(kind: Kind, base: Pose, follow: Pose, h_base: np.ndarray, h_follow: np.ndarray,
               image_size: tuple[int, int] = IMAGE_SIZE) -> dict[str, float]:
    """Relative pose of the follow-up camera, from the renderer's geometry.

    - ``roll_deg``: twist of ``R_rel = R_follow @ R_base.T`` about the optical axis.
    - ``tilt_deg``: angle between the optical axes, ``arccos(R_rel[2, 2])``.
    - ``scale_pct``: magnification of the follow-up relative to the baseline at the
      follow-up image centre: local px/mm of the follow-up over that of the baseline at
      the scalp point seen at the follow-up centre (the isotropic scale of the
      follow->baseline homography's Jacobian there, inverted), minus 1, in %.
      Positive = follow-up larger (closer). Tilt foreshortening is included.
    - ``scale_nominal_pct``: ratio of the pose magnifications, ignoring foreshortening
      (recorded for diagnosis only).
    - ``shift_pct``: distance from the image centre to where the scalp point at the
      baseline's centre appears in the follow-up, in % of the image diagonal.
    """
    r_base, _ = camera_extrinsics(base, distance_mm=1.0)
    r_follow, _ = camera_extrinsics(follow, distance_mm=1.0)
    r_rel = r_follow @ r_base.T
    centre = np.array([[(image_size[0] - 1) / 2.0, (image_size[1] - 1) / 2.0]])
    at_centre_mm = project_points(np.linalg.inv(h_follow), centre)
    ratio = float(local_px_per_mm(h_follow, at_centre_mm)[0] / local_px_per_mm(h_base, at_centre_mm)[0])
    base_centre_in_follow = project_points(h_follow @ np.linalg.inv(h_base), centre)
    diagonal = math.hypot(*image_size)
    return {
        "roll_deg": twist_angle_deg(r_rel),
        "tilt_deg": math.degrees(math.acos(float(np.clip(r_rel[2, 2], -1.0, 1.0)))),
        "scale_pct": 100.0 * (ratio - 1.0),
        "scale_nominal_pct": 100.0 * (follow.scale / base.scale - 1.0),
        "shift_pct": 100.0 * float(np.linalg.norm(base_centre_in_follow - centre)) / diagonal,
    }


def light_truth(base: Lighting, follow: Lighting) -> dict[str, float | None]:
    """The light as the renderer set it (for diagnosing the image checks; no targets).

    - ``exposure_difference_ev``: follow-up minus baseline exposure.
    - ``white_balance_shift_mired``: follow-up minus baseline light colour (``None`` when
      either shot has a tint, which mireds do not describe).
    - ``lighting_uniformity``: max/min of the follow-up's illumination field (vignetting
      and gradient) over the whole frame.
    - ``lighting_change``: max/min of the follow-up/baseline illumination ratio field.
    """
    shape = (IMAGE_SIZE[1] // 8, IMAGE_SIZE[0] // 8)  # smooth fields: a coarse grid is exact enough
    field_b = illumination_field(shape, base).astype(np.float64)
    field_f = illumination_field(shape, follow).astype(np.float64)
    ratio = field_f / field_b
    shift = (None if base.tint or follow.tint
             else follow.white_balance_shift_mired - base.white_balance_shift_mired)
    return {"exposure_difference_ev": follow.exposure_ev - base.exposure_ev,
            "white_balance_shift_mired": shift,
            "lighting_uniformity": float(field_f.max() / field_f.min()),
            "lighting_change": float(ratio.max() / ratio.min())}


# --------------------------------------------------------------------------- one pair

def check_dicts(report) -> list[dict[str, Any]]:
    """The report's checks as plain dicts (JSON-safe values)."""
    out = []
    for c in report.checks:
        value = c.value if isinstance(c.value, (int, float, str, list, type(None))) else str(c.value)
        limit = c.limit if isinstance(c.limit, (int, float, str, list, dict, type(None))) else str(c.limit)
        out.append({"name": c.name, "status": c.status, "value": value, "limit": limit,
                    "message": c.message})
    return out


def run_case(case: PairCase, work_dir: str) -> dict[str, Any]:
    """Render, write and check one pair; returns the case's record (checks and truth)."""
    kind = KINDS[case.kind]
    t0 = time.perf_counter()
    base_scene, follow_scene, scene = make_scenes(kind, np.random.default_rng(case.seed + (0,)))
    img_b, h_b = render_shot(kind, base_scene, case.baseline, np.random.default_rng(case.seed + (1,)))
    img_f, h_f = render_shot(kind, follow_scene, case.followup, np.random.default_rng(case.seed + (2,)))
    folder = Path(work_dir) / case.case_id
    base_path = write_jpeg(folder / "baseline" / f"{kind.view}.jpg", img_b, case.baseline.exif,
                           quality=JPEG_QUALITY)
    follow_path = write_jpeg(folder / VISIT / f"{kind.view}.jpg", img_f, case.followup.exif,
                             quality=JPEG_QUALITY)
    render_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = check_photo(follow_path, load_protocol(), baseline=base_path, now=NOW,
                         view=kind.view, visit=VISIT)
    check_s = time.perf_counter() - t0
    checks = check_dicts(report)
    return {
        "case_id": case.case_id, "group": case.group, "kind": case.kind, "drift": case.drift,
        "variant": case.variant, "detail": case.detail, "expected": list(case.expected),
        "verdict": report.verdict,
        "fired": [c["name"] for c in checks if c["status"] in FLAGGED],
        "checks": checks,
        "scene": scene,
        "truth": {**pose_truth(kind, case.baseline.pose, case.followup.pose, h_b, h_f),
                  **light_truth(case.baseline.lighting, case.followup.lighting)},
        "render_s": render_s, "check_s": check_s,
    }


def run_cases(cases: list[PairCase], work_dir: Path, jobs: int) -> list[dict[str, Any]]:
    """Run every case (in ``jobs`` processes), printing progress to stderr."""
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    step = max(1, len(cases) // 10)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for i, res in enumerate(pool.map(run_case, cases, [str(work_dir)] * len(cases)), 1):
            results.append(res)
            if i % step == 0 or i == len(cases):
                print(f"  {i}/{len(cases)} pairs ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return results


# --------------------------------------------------------------------------- analysis

def pct(n: int, d: int) -> float | None:
    return None if d == 0 else 100.0 * n / d


def fmt_pct(v: float | None) -> str:
    return "  n/a" if v is None else f"{v:5.1f}"


def status_of(result: dict[str, Any], name: str) -> str | None:
    """Status of a named check in a case, or ``None`` when the report lacks it."""
    for c in result["checks"]:
        if c["name"] == name:
            return c["status"]
    return None


def value_of(result: dict[str, Any], name: str) -> float | None:
    """Numeric value of a named check, or ``None`` (absent, non-numeric or not measured)."""
    for c in result["checks"]:
        if c["name"] == name and isinstance(c["value"], (int, float)) and not isinstance(c["value"], bool):
            return float(c["value"])
    return None


def specific_detection(result: dict[str, Any]) -> bool | None:
    """Whether one of the expected checks fired; ``None`` when none of them is reported."""
    statuses = [status_of(result, n) for n in result["expected"]]
    if all(s is None for s in statuses):
        return None
    return any(s in FLAGGED for s in statuses)


def top_fired(results: list[dict[str, Any]], k: int = 4) -> str:
    """The most common fired checks among cases, as ``name(count)``."""
    counts = Counter(name for r in results for name in r["fired"])
    return ", ".join(f"{n}({c})" for n, c in counts.most_common(k)) or "-"


def detection_tables(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Flag rates per drift type x kind, per drift type, for clean pairs, and overall."""
    drifted = [r for r in results if r["group"] == "drift"]
    clean = [r for r in results if r["group"] == "clean"]
    rows = []
    for drift in DRIFTS:
        for kind in KINDS:
            sel = [r for r in drifted if r["drift"] == drift and r["kind"] == kind]
            spec = [specific_detection(r) for r in sel]
            rows.append({"drift": drift, "kind": kind, "n": len(sel),
                         "flagged_pct": pct(sum(r["verdict"] in FLAGGED for r in sel), len(sel)),
                         "specific_pct": pct(sum(s is True for s in spec), len(sel)),
                         "specific_missing": sum(s is None for s in spec),
                         "top_fired": top_fired(sel),
                         "missed": [r["case_id"] for r in sel if r["verdict"] not in FLAGGED]})
    per_drift = []
    for drift in DRIFTS:
        sel = [r for r in drifted if r["drift"] == drift]
        spec = [specific_detection(r) for r in sel]
        expected = sorted({n for r in sel for n in r["expected"]})
        per_drift.append({"drift": drift, "expected": expected, "n": len(sel),
                          "flagged_pct": pct(sum(r["verdict"] in FLAGGED for r in sel), len(sel)),
                          "specific_pct": pct(sum(s is True for s in spec), len(sel)),
                          "specific_missing": sum(s is None for s in spec)})
    clean_rows = []
    for kind in KINDS:
        sel = [r for r in clean if r["kind"] == kind]
        clean_rows.append({"kind": kind, "n": len(sel),
                           "flagged_pct": pct(sum(r["verdict"] in FLAGGED for r in sel), len(sel)),
                           "top_fired": top_fired(sel, 6)})
    specific_misses = [{"case_id": r["case_id"], "detail": r["detail"], "verdict": r["verdict"],
                        "expected": [{k: c[k] for k in ("name", "status", "value", "limit")}
                                     for c in r["checks"] if c["name"] in r["expected"]]}
                       for r in drifted if specific_detection(r) is False]
    false_alarms = [{"case_id": r["case_id"], "verdict": r["verdict"], "scene": r["scene"],
                     "checks": [{k: c[k] for k in ("name", "status", "value", "limit", "message")}
                                for c in r["checks"] if c["status"] in FLAGGED]}
                    for r in clean if r["verdict"] in FLAGGED]
    n_drift_flagged = sum(r["verdict"] in FLAGGED for r in drifted)
    n_clean_flagged = sum(r["verdict"] in FLAGGED for r in clean)
    return {"by_drift_and_kind": rows, "by_drift": per_drift, "clean_by_kind": clean_rows,
            "false_alarms": false_alarms, "specific_misses": specific_misses,
            "drifted": {"n": len(drifted), "flagged": n_drift_flagged,
                        "flagged_pct": pct(n_drift_flagged, len(drifted))},
            "clean": {"n": len(clean), "flagged": n_clean_flagged,
                      "flagged_pct": pct(n_clean_flagged, len(clean))}}


POSE_QUANTITIES = (("roll", "pose.roll_deg", "roll_deg", "deg"),
                   ("tilt", "pose.tilt_deg", "tilt_deg", "deg"),
                   ("scale", "pose.scale_pct", "scale_pct", "%"))


def angle_difference_deg(a: float, b: float) -> float:
    """``a - b`` wrapped to (-180, 180]."""
    d = (a - b + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


def error_stats(errors: list[float]) -> dict[str, Any]:
    """Median, 95th percentile and max of absolute errors, plus the signed bias."""
    if not errors:
        return {"n": 0, "median_abs": None, "p95_abs": None, "max_abs": None, "bias": None}
    e = np.asarray(errors, float)
    a = np.abs(e)
    return {"n": len(e), "median_abs": float(np.median(a)), "p95_abs": float(np.percentile(a, 95)),
            "max_abs": float(a.max()), "bias": float(np.median(e))}


def registration_failed(result: dict[str, Any]) -> bool | None:
    """``True`` when the pair could not be registered; ``None`` when no pose checks exist."""
    reg = status_of(result, "pose.registration")
    if reg is None and all(status_of(result, q[1]) is None for q in POSE_QUANTITIES):
        return None
    if reg == "fail":
        return True
    return all(value_of(result, q[1]) is None for q in POSE_QUANTITIES)


def pose_errors(results: list[dict[str, Any]], quantity: tuple[str, str, str, str]) -> list[float]:
    """Signed estimate-minus-truth errors of one quantity over registered pairs."""
    _, check, key, _ = quantity
    out = []
    for r in results:
        v = value_of(r, check)
        if v is None:
            continue
        truth = r["truth"][key]
        out.append(angle_difference_deg(v, truth) if key == "roll_deg" else v - truth)
    return out


def accuracy_tables(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Pose errors per kind and pooled, for the known-pose set and (small motion) clean pairs."""
    out: dict[str, Any] = {}
    for group in ("pose", "clean"):
        sel_group = [r for r in results if r["group"] == group]
        rows = []
        for kind in list(KINDS) + ["all"]:
            sel = [r for r in sel_group if kind == "all" or r["kind"] == kind]
            failed = [registration_failed(r) for r in sel]
            row = {"kind": kind, "n": len(sel), "registration_failed": sum(f is True for f in failed),
                   "pose_checks_missing": sum(f is None for f in failed)}
            for quantity in POSE_QUANTITIES:
                row[quantity[0]] = error_stats(pose_errors(sel, quantity))
            if group == "pose":
                nominal = [value_of(r, "pose.scale_pct") - r["truth"]["scale_nominal_pct"]
                           for r in sel if value_of(r, "pose.scale_pct") is not None]
                row["scale_vs_nominal"] = error_stats(nominal)
            rows.append(row)
        out[group] = rows
    return out


# Image checks compared with the renderer's light: check, truth key, drift types besides
# the clean pairs whose truth is well defined for it.
LIGHT_DIAGNOSTICS = (("exposure.difference_ev", "exposure_difference_ev", ("exposure_plus", "exposure_minus")),
                     ("white_balance.shift_mired", "white_balance_shift_mired", ("colour_cast",)),
                     ("lighting.uniformity", "lighting_uniformity", ()),
                     ("lighting.change", "lighting_change", ("uneven_light",)))


def light_diagnostics(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Measured image-QA values against the renderer's light, per check and kind."""
    rows = []
    for check, key, drifts in LIGHT_DIAGNOSTICS:
        for kind in KINDS:
            pairs = [(value_of(r, check), r["truth"][key]) for r in results
                     if r["kind"] == kind and (r["group"] == "clean" or r["drift"] in drifts)]
            pairs = [(m, t) for m, t in pairs if m is not None and t is not None]
            if not pairs:
                rows.append({"check": check, "kind": kind, "n": 0})
                continue
            m, t = np.array(pairs).T
            err = np.abs(m - t)
            rows.append({"check": check, "kind": kind, "n": len(pairs),
                         "sets": ["clean", *drifts], "truth_median": float(np.median(t)),
                         "measured_median": float(np.median(m)), "median_abs_error": float(np.median(err)),
                         "max_abs_error": float(err.max())})
    return rows


# --------------------------------------------------------------------------- speed

def upscale_with_grain(image: np.ndarray, size: tuple[int, int], rng: np.random.Generator,
                       sigma: float = 3.0) -> np.ndarray:
    """Cubic upscale to ``size`` plus sensor grain (``sigma`` in 8-bit codes), so the JPEG
    carries fine detail to decode instead of the smooth upscale alone."""
    big = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    for r0 in range(0, big.shape[0], 500):  # in bands: a 24 MP float array is ~300 MB
        band = big[r0:r0 + 500].astype(np.float32)
        band += sigma * rng.standard_normal(band.shape, dtype=np.float32)
        big[r0:r0 + 500] = np.clip(band + 0.5, 0, 255).astype(np.uint8)
    return big


def write_speed_pair(work_dir: Path, seed: int) -> tuple[Path, Path]:
    """A clean 24 MP crown pair (Canon EOS R8 size) with EXIF, quality 92."""
    kind = KINDS["vertex"]
    rng = np.random.default_rng((seed, 9))
    base_shot, follow_shot = clean_pair(rng, kind)
    base_scene, follow_scene, _ = make_scenes(kind, rng)
    paths = []
    for visit, scene, shot in (("baseline", base_scene, base_shot), (VISIT, follow_scene, follow_shot)):
        img, _ = render_shot(kind, scene, shot, rng, image_size=SPEED_RENDER_SIZE)
        big = upscale_with_grain(img, SPEED_SIZE, rng)
        exif = replace(shot.exif, width_px=SPEED_SIZE[0], height_px=SPEED_SIZE[1])
        paths.append(write_jpeg(work_dir / "speed" / visit / "vertex.jpg", big, exif,
                                quality=SPEED_JPEG_QUALITY))
    return paths[0], paths[1]


def best_time_s(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float]]:
    """Run once untimed (warm-up), then ``repeats`` times; best and all times."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), times


def plain_decode(path: Path) -> np.ndarray:
    """One full-resolution decode, the reference cost."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def cli_command() -> list[str]:
    """The installed ``photostation`` script next to this interpreter."""
    script = Path(sys.executable).with_name("photostation")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from photostation_cli.main import entry_point; entry_point()"]


def speed_benchmark(work_dir: Path, seed: int, protocol: Protocol) -> dict[str, Any]:
    """Warm in-process timings (best of 5) and one cold CLI run on a 24 MP pair."""
    base, follow = write_speed_pair(work_dir, seed)
    decode_s, decode_all = best_time_s(lambda: plain_decode(follow), SPEED_REPEATS)
    # Issue 13 states its goal against a process that only decodes the two files.
    decode_both_s, _ = best_time_s(lambda: (plain_decode(follow), plain_decode(base)), SPEED_REPEATS)
    report = check_photo(follow, protocol, baseline=base, now=NOW, view="vertex", visit=VISIT)
    check_s, check_all = best_time_s(
        lambda: check_photo(follow, protocol, baseline=base, now=NOW, view="vertex", visit=VISIT),
        SPEED_REPEATS)
    cmd = cli_command() + ["check", str(follow), "--baseline", str(base), "--json",
                           "--view", "vertex", "--visit", VISIT]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work_dir)
    cli_s = time.perf_counter() - t0
    try:
        cli_verdict = json.loads(proc.stdout)["verdict"]
    except (json.JSONDecodeError, KeyError):
        cli_verdict = None
    return {"image_size": list(SPEED_SIZE), "megapixels": SPEED_SIZE[0] * SPEED_SIZE[1] / 1e6,
            "follow_bytes": follow.stat().st_size, "baseline_bytes": base.stat().st_size,
            "decode_s": decode_s, "decode_all_s": decode_all,
            "check_s": check_s, "check_all_s": check_all, "ratio": check_s / decode_s,
            "decode_both_s": decode_both_s, "ratio_both": check_s / decode_both_s,
            "check_verdict": report.verdict,
            "check_fired": [c.name for c in report.checks if c.status in FLAGGED],
            "cli_wall_s": cli_s, "cli_exit_code": proc.returncode, "cli_verdict": cli_verdict,
            "cli_stderr": proc.stderr.strip()[-500:]}


# --------------------------------------------------------------------------- report

def verdict_word(ok: bool | None) -> str:
    return "MISS (not measured)" if ok is None else ("PASS" if ok else "MISS")


def print_detection(det: dict[str, Any]) -> None:
    """Tables of part 1."""
    print("\n== 1. Drift detection (flagged = verdict warn or fail) ==")
    print(f"{'drift':<16}{'kind':<17}{'n':>3} {'flag%':>6} {'spec%':>6}  fired (most common)")
    for row in det["by_drift_and_kind"]:
        miss = f" [check absent in {row['specific_missing']}]" if row["specific_missing"] else ""
        print(f"{row['drift']:<16}{row['kind']:<17}{row['n']:>3} {fmt_pct(row['flagged_pct']):>6} "
              f"{fmt_pct(row['specific_pct']):>6}  {row['top_fired']}{miss}")
    print("\nSpecific check expected per drift (detected = that check warns or fails):")
    print(f"{'drift':<16}{'n':>3} {'flag%':>6} {'spec%':>6}  expected check")
    for row in det["by_drift"]:
        miss = f"  (absent from {row['specific_missing']} reports)" if row["specific_missing"] else ""
        print(f"{row['drift']:<16}{row['n']:>3} {fmt_pct(row['flagged_pct']):>6} "
              f"{fmt_pct(row['specific_pct']):>6}  {' or '.join(row['expected'])}{miss}")
    if det["specific_misses"]:
        print("Drifted pairs whose expected check did not fire:")
    for m in det["specific_misses"]:
        shown = "; ".join(f"{c['name']} {c['status']} value={_short(c['value'])}" for c in m["expected"]) or "check absent"
        print(f"  {m['case_id']} ({m['detail']}; verdict {m['verdict']}): {shown}")
    print("\nClean pairs (natural variation only):")
    print(f"{'kind':<17}{'n':>3} {'flag%':>6}  fired")
    for row in det["clean_by_kind"]:
        print(f"{row['kind']:<17}{row['n']:>3} {fmt_pct(row['flagged_pct']):>6}  {row['top_fired']}")
    for fa in det["false_alarms"]:
        scene = ", ".join(f"{k} {_short(v)}" for k, v in fa["scene"].items())
        print(f"  false alarm {fa['case_id']} ({fa['verdict']}; {scene}):")
        for c in fa["checks"]:
            print(f"    {c['status'].upper():<5}{c['name']} = {c['value']!r} (limit {c['limit']!r}): {c['message']}")


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else repr(value)


def _stat(s: dict[str, Any], key: str) -> str:
    return "   n/a" if s[key] is None else f"{s[key]:6.2f}"


def print_accuracy(acc: dict[str, Any]) -> None:
    """Tables of part 2."""
    titles = {"pose": "known poses: roll -20..20 deg, tilt 0..12 deg, scale 0.85..1.15",
              "clean": "clean pairs: small natural motion"}
    print("\n== 2. Pose accuracy (|estimate - truth|; truth from the renderer's camera model) ==")
    for group, rows in acc.items():
        print(f"-- {titles[group]}")
        print(f"{'kind':<17}{'n':>3} {'unreg':>5}  {'quantity':<9}{'median':>7}{'p95':>7}{'max':>7}{'bias':>7}")
        for row in rows:
            note = f"  (pose checks absent: {row['pose_checks_missing']})" if row["pose_checks_missing"] else ""
            for qi, (q, _, _, unit) in enumerate(POSE_QUANTITIES):
                s = row[q]
                head = (f"{row['kind']:<17}{row['n']:>3} {row['registration_failed']:>5}" if qi == 0
                        else " " * 26)
                print(f"{head}  {q + ' ' + unit:<9}{_stat(s, 'median_abs')}{_stat(s, 'p95_abs')}"
                      f"{_stat(s, 'max_abs')}{_stat(s, 'bias')}{note if qi == 0 else ''}")
        if group == "pose":
            s = rows[-1]["scale_vs_nominal"]
            if s["n"]:
                print(f"  (scale error against the pose's nominal ratio, without tilt foreshortening: "
                      f"median {s['median_abs']:.2f} %, p95 {s['p95_abs']:.2f} %)")


def print_light_diagnostics(rows: list[dict[str, Any]]) -> None:
    """Diagnostic table: image checks against the renderer's light (no targets)."""
    print("\n-- Image checks against the renderer's light (diagnostic; clean pairs plus the drift aimed at "
          "the check; uniformity truth over the whole frame)")
    print(f"{'check':<27}{'kind':<17}{'n':>3}{'truth':>8}{'measured':>9}{'|err| med':>10}{'max':>8}")
    for r in rows:
        if not r["n"]:
            print(f"{r['check']:<27}{r['kind']:<17}{0:>3}  (no values)")
            continue
        print(f"{r['check']:<27}{r['kind']:<17}{r['n']:>3}{r['truth_median']:8.2f}{r['measured_median']:9.2f}"
              f"{r['median_abs_error']:10.2f}{r['max_abs_error']:8.2f}")


def print_speed(speed: dict[str, Any]) -> None:
    """Table of part 3."""
    print(f"\n== 3. Speed ({speed['image_size'][0]}x{speed['image_size'][1]}, "
          f"{speed['megapixels']:.0f} MP JPEG q{SPEED_JPEG_QUALITY}, "
          f"{speed['follow_bytes'] / 1e6:.1f} MB; warm, best of {SPEED_REPEATS}) ==")
    print(f"plain Pillow decode of the follow-up : {speed['decode_s']:.3f} s")
    print(f"check_photo(follow, baseline=base)   : {speed['check_s']:.3f} s  "
          f"(verdict {speed['check_verdict']}{', fired ' + ', '.join(speed['check_fired']) if speed['check_fired'] else ''})")
    print(f"ratio check / decode                 : {speed['ratio']:.2f}")
    print(f"plain Pillow decode of both files    : {speed['decode_both_s']:.3f} s (ratio check / both: "
          f"{speed['ratio_both']:.2f}; issue 13's goal: <= 1.5)")
    print(f"CLI `photostation check F --baseline B --json` (cold process): {speed['cli_wall_s']:.2f} s "
          f"(exit {speed['cli_exit_code']}, verdict {speed['cli_verdict']})")


def targets(det: dict[str, Any], acc: dict[str, Any], speed: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's targets with the measured value and PASS/MISS."""
    pooled = acc["pose"][-1]

    def p95(q: str) -> float | None:
        return pooled[q]["p95_abs"]

    def within(v: float | None, limit: float, below: bool = True) -> bool | None:
        return None if v is None else (v <= limit if below else v >= limit)

    rows = [
        ("drifted pairs flagged %", det["drifted"]["flagged_pct"], f">= {TARGET_DRIFT_FLAGGED_PCT:g}",
         within(det["drifted"]["flagged_pct"], TARGET_DRIFT_FLAGGED_PCT, below=False)),
        ("clean pairs flagged %", det["clean"]["flagged_pct"], f"<= {TARGET_CLEAN_FLAGGED_PCT:g}",
         within(det["clean"]["flagged_pct"], TARGET_CLEAN_FLAGGED_PCT)),
        ("roll error p95 (deg)", p95("roll"), f"<= {TARGET_ANGLE_ERROR_DEG:g}",
         within(p95("roll"), TARGET_ANGLE_ERROR_DEG)),
        ("tilt error p95 (deg)", p95("tilt"), f"<= {TARGET_ANGLE_ERROR_DEG:g}",
         within(p95("tilt"), TARGET_ANGLE_ERROR_DEG)),
        ("scale error p95 (%)", p95("scale"), f"<= {TARGET_SCALE_ERROR_PCT:g}",
         within(p95("scale"), TARGET_SCALE_ERROR_PCT)),
    ]
    if speed is not None:
        rows.append(("speed ratio check/decode", speed["ratio"], f"<= {TARGET_SPEED_RATIO:g}",
                     within(speed["ratio"], TARGET_SPEED_RATIO)))
    return [{"target": name, "value": value, "limit": limit, "met": ok} for name, value, limit, ok in rows]


def print_headline(det: dict[str, Any], acc: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """The headline figures with PASS/MISS per target."""
    print("\n== Headline ==")
    d, c = det["drifted"], det["clean"]
    print(f"drifted flagged {d['flagged']}/{d['n']}, clean flagged {c['flagged']}/{c['n']}, "
          f"pairs not registered (known-pose set) {acc['pose'][-1]['registration_failed']}/{acc['pose'][-1]['n']}")
    for row in rows:
        v = "n/a" if row["value"] is None else f"{row['value']:.2f}"
        print(f"{row['target']:<28}{v:>8}  target {row['limit']:<7} {verdict_word(row['met'])}")


# --------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = benchmark_parser(__doc__.split("\n\n")[0], DEFAULT_OUT, quick="fewer cases (about 3 minutes)",
                          jobs="processes rendering and checking pairs (default: up to 2)")
    ap.add_argument("--no-speed", action="store_true", help="skip the 24 MP speed part")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    counts = COUNTS[mode]
    started = time.perf_counter()
    protocol = load_protocol()
    with photo_folder("shot-qa", args.keep) as work_dir:
        cases = build_cases(args.seed, counts)
        print(f"shot_qa ({mode}, seed {args.seed}): {len(cases)} pairs at {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}, "
              f"{args.jobs} process(es), photos in {work_dir}", file=sys.stderr)
        results = run_cases(cases, work_dir, args.jobs)
        det = detection_tables(results)
        det["light_diagnostics"] = light_diagnostics(results)
        acc = accuracy_tables(results)
        print_detection(det)
        print_light_diagnostics(det["light_diagnostics"])
        print_accuracy(acc)
        speed = None
        if not args.no_speed:
            print("  speed: rendering the 24 MP pair ...", file=sys.stderr)
            speed = speed_benchmark(work_dir, args.seed, protocol)
            print_speed(speed)
        rows = targets(det, acc, speed)
        print_headline(det, acc, rows)
        runtime_s = time.perf_counter() - started
        print(f"\nruntime {runtime_s:.0f} s; render {sum(r['render_s'] for r in results):.0f} s and "
              f"check {sum(r['check_s'] for r in results):.0f} s summed over pairs")
        write_results(args.out, {
            "benchmark": "shot_qa", "mode": mode, "seed": args.seed, "counts_per_kind": counts,
            "image_size": list(IMAGE_SIZE), "now": NOW.isoformat(), "visit": VISIT,
            "protocol": protocol_name(protocol), "kinds": list(KINDS), "drifts": list(DRIFTS),
            "targets": rows, "detection": det, "accuracy": acc, "speed": speed,
            "runtime_s": runtime_s, "cases": results})
        print(f"results: {args.out}")
    return 0


def protocol_name(protocol: Protocol) -> str | None:
    """The protocol's name when it has one (for the record)."""
    return getattr(protocol, "name", None)


if __name__ == "__main__":
    raise SystemExit(main())
