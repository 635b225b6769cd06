"""Month-6 comparison benchmark: accuracy and speed of ``photostation compare``.

Every pair is rendered by photostation's own renderer (:mod:`photostation.synthetic`),
written as JPEGs with camera EXIF, and compared with
:func:`pipelines.compare.compare_pair`, the library call behind
``photostation compare BASELINE FOLLOWUP``. The truth comes only from the renderer's
geometry (scalp-to-image homographies, emergence points, shaft widths, hair masks, scalp
masks), never from photostation's estimates. Five parts:

1. **Per-image density** (trichoscopy, clipped and unclipped, 100-250 hairs/cm2,
   1600x1200, 10 mm field): hairs emerging in the common area / its area. Targets: median
   absolute error <= 5 % (clipped) and <= 10 % (unclipped). Shaft width and vellus share
   errors are reported too.
2. **Density change**: the same pairs carry a known change (``evolve_patch``, -15..+15 %).
   Error of ``change.density_per_cm2`` (hair matching) in % of the baseline density; target
   median <= 3 % (goal 1 %). The naive difference of the two counts is reported beside it.
3. **Registration**: corner error of ``registration.matrix`` against the true
   follow-up -> baseline homography, over pairs with roll up to 30 deg, scale +-20 % and
   tilt up to 8 deg (trichoscopy and crown). Target: median <= 1 px.
4. **Coverage** (crown, global view): ``coverage_pct`` against the renderer's hair mask over
   the same common scalp area, for dark brown, black, blond and grey hair. Target:
   95th percentile of the absolute error <= 2 percentage points.
5. **Speed**: a 12-megapixel pair (4000x3000 JPEG) compared on one core (a subprocess
   pinned with ``taskset``, one thread), warm, best of 3. Target: <= 4 s.

Run ``.venv/bin/python benchmarks/compare.py [--quick] [--seed N] [--out FILE]``.
The numbers describe rendered images, not real clinic photos (see the README).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this folder comes first on sys.path, and benchmarks/calibration.py would
# shadow the ``calibration`` package that the pipelines import: put the repository first.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from photostation.protocol import load_protocol  # noqa: E402
from photostation.synthetic import (CrownHead, Optics, Pose,  # noqa: E402
                                    evolve_crown, evolve_patch, make_scalp_patch,
                                    render_crown, render_trichoscopy, write_jpeg)
from photostation.synthetic.crown import CROWN_FOCAL_LENGTH_35MM  # noqa: E402
from photostation.synthetic.trichoscopy import TRICHO_FOCAL_LENGTH_35MM  # noqa: E402
from benchmarks.records import benchmark_parser, photo_folder, write_results  # noqa: E402
from benchmarks.sessions import (INTERVAL_DAYS, RELAY_DEG, camera_exif, capture_times,  # noqa: E402
                                 natural_baseline_pose, natural_followup_pose,
                                 Shot, natural_lighting_pair, random_shift_mm)
from pipelines.compare import compare_pair  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "compare.json"

IMAGE_SIZE = (1600, 1200)
NOW = datetime(2026, 11, 22, 0, 0, tzinfo=timezone.utc)
VISIT = "month-6"
JPEG_QUALITY = 88                # what the devices of the sample archive write

TARGET_DENSITY_PCT = {"clipped": 5.0, "unclipped": 10.0}
TARGET_CHANGE_PCT = 3.0
GOAL_CHANGE_PCT = 1.0
TARGET_CORNER_PX = 1.0
TARGET_COVERAGE_PTS = 2.0
TARGET_SPEED_S = 4.0

SPEED_SIZE = (4000, 3000)        # 12 MP
SPEED_JPEG_QUALITY = 92
SPEED_REPEATS = 3
SPEED_GRAIN_SIGMA = 2.0          # 8-bit codes of sensor grain added after the upscale

HAIR_COLOURS = ("black", "dark_brown", "brown", "auburn", "blond", "grey")
COVERAGE_COLOURS = ("dark_brown", "black", "blond", "grey")

# Pairs per kind: density/change pairs per trichoscopy kind, large-motion registration
# pairs per family (trichoscopy alternates clipped/unclipped), coverage pairs per colour.
# 36 density pairs (6 per hair colour): with 20, the change's median moved from 3.4 % to
# 6.6 % and 7.9 % between seeds.
COUNTS = {"full": {"density": 36, "registration": 16, "coverage": 8},
          "quick": {"density": 3, "registration": 2, "coverage": 1}}


# --------------------------------------------------------------------------- set-up

@dataclass(frozen=True)
class Kind:
    """One kind of view: how it is rendered and measured."""

    name: str
    view: str                    # file name in the archive layout
    family: str                  # "trichoscopy" or "crown"
    clipped: bool
    field_width_mm: float
    focal_length_35mm: float
    vignetting: float

    @property
    def measure_view(self) -> str:
        return "global" if self.family == "crown" else "trichoscopy"

    @property
    def hair_kind(self) -> str | None:
        if self.family == "crown":
            return None
        return "clipped" if self.clipped else "unclipped"


KINDS = {
    "clipped": Kind("clipped", "tricho-vertex", "trichoscopy", True, 10.0, TRICHO_FOCAL_LENGTH_35MM, 0.22),
    "unclipped": Kind("unclipped", "tricho-midscalp", "trichoscopy", False, 10.0, TRICHO_FOCAL_LENGTH_35MM, 0.22),
    "crown": Kind("crown", "vertex", "crown", False, 260.0, CROWN_FOCAL_LENGTH_35MM, 0.12),
}


@dataclass(frozen=True)
class PairCase:
    """A baseline/follow-up pair to render and compare."""

    case_id: str
    group: str                   # "density", "registration", "coverage" or "speed"
    kind: str
    seed: tuple[int, ...]
    baseline: Shot
    followup: Shot
    scene: dict[str, Any]        # parameters of the scalp and of its change
    image_size: tuple[int, int] = IMAGE_SIZE


def large_motion_followup_pose(rng: np.random.Generator, kind: Kind, base: Pose) -> Pose:
    """Registration set: roll -30..30 deg, scale x0.8..1.2, tilt 0..8 deg about a random
    axis, aim moved by up to 3 % of the field width."""
    dx, dy = random_shift_mm(rng, 0.03 * kind.field_width_mm)
    return Pose(rotation_deg=base.rotation_deg + float(rng.uniform(-30, 30)),
                tilt_deg=float(rng.uniform(0, 8)), tilt_axis_deg=float(rng.uniform(0, 180)),
                scale=base.scale * float(rng.uniform(0.8, 1.2)),
                shift_mm=(base.shift_mm[0] + dx, base.shift_mm[1] + dy))


def make_shots(rng: np.random.Generator, kind: Kind, large_motion: bool,
               size: tuple[int, int] = IMAGE_SIZE) -> tuple[Shot, Shot]:
    """A baseline and follow-up shot: same camera and settings, natural light variation."""
    base_pose = natural_baseline_pose(rng, kind)
    follow_pose = (large_motion_followup_pose if large_motion else natural_followup_pose)(rng, kind, base_pose)
    base_light, follow_light = natural_lighting_pair(rng, kind)
    base_time, follow_time = capture_times(rng)
    return (Shot(base_pose, base_light, Optics(), camera_exif(kind, base_time, size)),
            Shot(follow_pose, follow_light, Optics(), camera_exif(kind, follow_time, size)))


def tricho_scene(rng: np.random.Generator, colour: str) -> dict[str, Any]:
    """Parameters of a scalp patch (100-250 hairs/cm2) and of its change (-15..+15 %)."""
    return {"hair_colour": colour, "density_per_cm2": float(rng.uniform(100, 250)),
            "vellus_share": float(rng.uniform(0.05, 0.2)), "skin_melanin": float(rng.uniform(0.1, 0.6)),
            "skin_redness": float(rng.uniform(0.2, 0.45)), "comb_direction_deg": float(rng.uniform(0, 180)),
            "density_change_pct": float(rng.uniform(-15, 15)), "width_change_um": float(rng.uniform(-3, 3))}


def crown_scene(rng: np.random.Generator, colour: str) -> dict[str, Any]:
    """Parameters of a head (thinning crown, about 60-96 % coverage) and of its coverage change
    (-4..+4 points)."""
    return {"hair_colour": colour, "thinning_severity": float(rng.uniform(0.3, 1.0)),
            "thinning_radius_mm": float(rng.uniform(35, 75)),
            "skin_melanin": float(rng.uniform(0.1, 0.5)),
            "whorl_mm": (float(rng.normal(6, 3)), float(rng.normal(30, 4))),
            "whorl_clockwise": bool(rng.uniform() < 0.5), "head_seed": int(rng.integers(0, 2**31)),
            "coverage_change_pts": float(rng.uniform(-4, 4))}


def build_cases(seed: int, counts: dict[str, int], speed: bool) -> list[PairCase]:
    """All pairs of the run, deterministic in ``seed``."""
    cases: list[PairCase] = []
    for ki, name in enumerate(("clipped", "unclipped")):
        kind = KINDS[name]
        for i in range(counts["density"]):
            s = (seed, 1, ki, i)
            rng = np.random.default_rng(s)
            base, follow = make_shots(rng, kind, large_motion=False)
            scene = tricho_scene(rng, HAIR_COLOURS[(i + 3 * ki) % len(HAIR_COLOURS)])
            cases.append(PairCase(f"density-{name}-{i:02d}", "density", name, s, base, follow, scene))
    for i in range(counts["registration"]):
        for fi, name in enumerate(("clipped" if i % 2 == 0 else "unclipped", "crown")):
            kind = KINDS[name]
            s = (seed, 2, fi, i)
            rng = np.random.default_rng(s)
            base, follow = make_shots(rng, kind, large_motion=True)
            colour = HAIR_COLOURS[(i + fi) % len(HAIR_COLOURS)]
            scene = crown_scene(rng, colour) if kind.family == "crown" else tricho_scene(rng, colour)
            cases.append(PairCase(f"registration-{name}-{i:02d}", "registration", name, s, base, follow, scene))
    for ci, colour in enumerate(COVERAGE_COLOURS):
        for i in range(counts["coverage"]):
            s = (seed, 3, ci, i)
            rng = np.random.default_rng(s)
            base, follow = make_shots(rng, KINDS["crown"], large_motion=False)
            cases.append(PairCase(f"coverage-{colour}-{i:02d}", "coverage", "crown", s, base, follow,
                                  crown_scene(rng, colour)))
    if speed:
        for fi, name in enumerate(("clipped", "crown")):
            s = (seed, 9, fi)
            rng = np.random.default_rng(s)
            base, follow = make_shots(rng, KINDS[name], large_motion=False, size=SPEED_SIZE)
            colour = "dark_brown"
            scene = crown_scene(rng, colour) if name == "crown" else tricho_scene(rng, colour)
            cases.append(PairCase(f"speed-{name}", "speed", name, s, base, follow, scene))
    return cases


# --------------------------------------------------------------------------- rendering

def make_scenes(kind: Kind, scene: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any, Any]:
    """The scalp (patch or head), the same scalp 182 days later, and the evolution truth."""
    if kind.family == "crown":
        head = CrownHead(thinning_severity=scene["thinning_severity"], thinning_radius_mm=scene["thinning_radius_mm"],
                         hair_colour=scene["hair_colour"],
                         skin_melanin=scene["skin_melanin"], whorl_mm=tuple(scene["whorl_mm"]),
                         whorl_clockwise=scene["whorl_clockwise"], seed=scene["head_seed"])
        return head, evolve_crown(head, rng, scene["coverage_change_pts"], days=INTERVAL_DAYS), None
    patch = make_scalp_patch(rng, 20.0, 20.0, scene["density_per_cm2"], scene["vellus_share"],
                             hair_colour=scene["hair_colour"], melanin=scene["skin_melanin"],
                             redness=scene["skin_redness"], comb_direction_deg=scene["comb_direction_deg"])
    follow, evolution = evolve_patch(patch, rng, days=INTERVAL_DAYS, density_change_pct=scene["density_change_pct"],
                                     width_change_um=scene["width_change_um"],
                                     relay_deg=0.0 if kind.clipped else RELAY_DEG)
    return patch, follow, evolution


def render_shot(kind: Kind, scene: Any, shot: Shot, rng: np.random.Generator,
                image_size: tuple[int, int] = IMAGE_SIZE):
    """Render one photo; returns the renderer's Render / CrownRender (image and truth)."""
    if kind.family == "crown":
        return render_crown(scene, shot.pose, shot.lighting, shot.optics, image_size=image_size,
                            field_width_mm=kind.field_width_mm, focal_length_35mm=kind.focal_length_35mm, rng=rng)
    return render_trichoscopy(scene, shot.pose, shot.lighting, shot.optics, image_size=image_size,
                              field_width_mm=kind.field_width_mm, clipped=kind.clipped,
                              focal_length_35mm=kind.focal_length_35mm, rng=rng)


def upscale_with_grain(image: np.ndarray, size: tuple[int, int], rng: np.random.Generator,
                       sigma: float = SPEED_GRAIN_SIGMA) -> np.ndarray:
    """Cubic upscale to ``size`` plus sensor grain (``sigma`` in 8-bit codes)."""
    big = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    for r0 in range(0, big.shape[0], 500):  # in bands, to keep the float copy small
        band = big[r0:r0 + 500].astype(np.float32)
        band += sigma * rng.standard_normal(band.shape, dtype=np.float32)
        big[r0:r0 + 500] = np.clip(band + 0.5, 0, 255).astype(np.uint8)
    return big


def upscale_matrix(src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """Pixel mapping of ``cv2.resize`` from ``src`` to ``dst`` (pixel centres aligned):
    ``x' = (x + 0.5) * s - 0.5``."""
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


# --------------------------------------------------------------------------- truth

def normalised(m: np.ndarray) -> np.ndarray:
    return m / m[2, 2]


def map_points(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a homography to ``(N, 2)`` points."""
    if len(pts) == 0:
        return np.zeros((0, 2))
    p = np.c_[pts, np.ones(len(pts))] @ np.asarray(h, float).T
    return p[:, :2] / p[:, 2:]


def corner_errors_px(estimated: np.ndarray | None, truth: np.ndarray, size: tuple[int, int]) -> list[float] | None:
    """Distances (baseline px) between where the estimate and the truth put the follow-up
    frame's four corners."""
    if estimated is None:
        return None
    w, h = size
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    return np.hypot(*(map_points(estimated, corners) - map_points(truth, corners)).T).tolist()


def in_mask(mask: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bool per point (x, y): does its nearest pixel lie in ``mask``?"""
    h, w = mask.shape
    p = np.round(pts).astype(int) if len(pts) else np.zeros((0, 2), int)
    ok = (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
    out = np.zeros(len(p), bool)
    out[ok] = mask[p[ok, 1], p[ok, 0]]
    return out


def exact_area_cm2(mask: np.ndarray, scalp_to_image: np.ndarray) -> float:
    """Scalp-plane area of an image region: the sum over its pixels of ``|det J|`` of the
    image -> scalp homography (exact under tilt, unlike area_px * mm_per_px^2)."""
    g = np.linalg.inv(scalp_to_image)
    ys, xs = np.nonzero(mask)
    w = g[2, 0] * xs + g[2, 1] * ys + g[2, 2]
    return float(np.sum(np.abs(np.linalg.det(g) / w ** 3)) / 100.0)


def warp_mask(mask: np.ndarray, h: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp a bool mask with a homography (nearest neighbour) into an image of ``size``."""
    return cv2.warpPerspective(mask.astype(np.uint8), np.asarray(h, float), size,
                               flags=cv2.INTER_NEAREST).astype(bool)


def tricho_truth(rb, rf, evolution, common: np.ndarray, f2b: np.ndarray, vellus_um: float) -> dict[str, Any]:
    """Hairs emerging in the common area at each visit, from the renderer's geometry.

    The baseline's emergence points are tested in the common mask directly
    (``Render.count_in_region``); the follow-up's are mapped into the baseline with the true
    homography ``H_b @ inv(H_f)``. The area is ``area_px * mm_per_px^2`` with the renderer's
    mm_per_px (as photostation is given it); the exact scalp area is recorded beside it.
    """
    in_b = in_mask(common, rb.emergence_px)
    in_f = in_mask(common, map_points(f2b, rf.emergence_px))
    assert int(in_b.sum()) == rb.count_in_region(common)
    area_px = int(common.sum())
    area_cm2 = area_px * rb.mm_per_px ** 2 / 100.0
    n_b, n_f = int(in_b.sum()), int(in_f.sum())
    lost_ids, new_ids = set(evolution.lost_hair_ids), set(evolution.new_hair_ids)
    lost = int(sum(int(i) in lost_ids for i in rb.hair_ids[in_b]))
    new = int(sum(int(i) in new_ids for i in rf.hair_ids[in_f]))

    def side(render, sel: np.ndarray, count: int) -> dict[str, Any]:
        widths = render.width_um[sel]
        return {"hair_count": count, "density_per_cm2": count / area_cm2,
                "mean_shaft_width_um": float(widths.mean()) if len(widths) else None,
                "vellus_pct": float(100.0 * np.mean(widths < vellus_um)) if len(widths) else None}

    # The best any matching of follicle openings can do without counting the hairs within a
    # unit: every opening matched exactly, the change in occupied openings scaled by the
    # baseline's hairs per opening (most of the renderer's change happens inside units).
    open_b, open_f = set(rb.follicle_ids[in_b].tolist()), set(rf.follicle_ids[in_f].tolist())
    opening_change = (len(open_f) - len(open_b)) * n_b / max(len(open_b), 1)
    opening_err_pct = 100.0 * (opening_change - (n_f - n_b)) / max(n_b, 1)
    return {"area_px": area_px, "area_cm2": area_cm2, "area_cm2_exact": exact_area_cm2(common, rb.scalp_to_image),
            "opening_level_change_err_pct": opening_err_pct,
            "mm_per_px": rb.mm_per_px, "baseline": side(rb, in_b, n_b), "followup": side(rf, in_f, n_f),
            "change_per_cm2": (n_f - n_b) / area_cm2, "change_pct": 100.0 * (n_f - n_b) / max(n_b, 1),
            "lost": lost, "new": new, "matched": n_b - lost,
            "patch_change_pct": evolution.density_change_pct}


def crown_truth(rb, rf, common: np.ndarray, f2b: np.ndarray, skin: tuple[np.ndarray | None, np.ndarray | None]
                ) -> dict[str, Any]:
    """Hair coverage over the common area, from the renderer's hair and scalp masks.

    The analysed area is photostation's common area restricted to true scalp in both photos
    (the baseline's scalp mask and the follow-up's mapped with the true homography). The
    follow-up's coverage is read in its own pixels: the area is mapped into the follow-up
    with the inverse of the true homography, so its hair mask is not resampled.

    Diagnostics: how much of photostation's common area is not scalp (and how much of that
    is hair lying beyond the head outline), how much true common scalp it left out, and
    photostation's own skin masks (``images["skin_baseline"]``, ``["skin_followup"]``) read
    over the true area, which separates the region's error from the skin/hair classification.
    """
    h, w = common.shape
    size = (w, h)
    fsize = (rf.hair_mask.shape[1], rf.hair_mask.shape[0])
    scalp_f_in_b = warp_mask(rf.scalp_mask, f2b, size)
    scalp_both = rb.scalp_mask & scalp_f_in_b
    area = common & scalp_both
    area_f = warp_mask(area, np.linalg.inv(f2b), fsize) & rf.scalp_mask
    # The common area photostation should have found: both frames (eroded as it does) and
    # both scalps.
    frame = cv2.erode(warp_mask(np.ones(rf.hair_mask.shape, bool), f2b, size).astype(np.uint8),
                      np.ones((9, 9), np.uint8)).astype(bool)
    ideal = frame & scalp_both
    n_common, n_area = int(common.sum()), int(area.sum())
    cov_b = 100.0 * float((rb.hair_mask & area).sum()) / max(n_area, 1)
    cov_f = 100.0 * float((rf.hair_mask & area_f).sum()) / max(int(area_f.sum()), 1)
    outside = common & ~area
    on_true_area = {side: None if mask is None or mask.shape != area.shape or not n_area
                    else 100.0 * (1.0 - float((mask & area).sum()) / n_area)
                    for side, mask in zip(("baseline", "followup"), skin)}
    return {"area_px": n_area, "common_px": n_common,
            "not_scalp_pct": 100.0 * (n_common - n_area) / max(n_common, 1),
            "not_scalp_hair_pct": 100.0 * float((outside & rb.hair_mask).sum()) / max(int(outside.sum()), 1),
            "measured_on_true_area_pct": on_true_area,
            "scalp_missed_pct": 100.0 * float((ideal & ~common).sum()) / max(int(ideal.sum()), 1),
            "baseline": {"coverage_pct": cov_b}, "followup": {"coverage_pct": cov_f},
            "change_pts": cov_f - cov_b,
            "frame_coverage_pct": {"baseline": rb.coverage_pct, "followup": rf.coverage_pct}}


# --------------------------------------------------------------------------- one pair

def comparison_json(c) -> dict[str, Any]:
    """``Comparison.to_json()`` with the checks reduced to those that did not pass."""
    data = c.to_json()
    data["checks"] = [{k: ch.get(k) for k in ("name", "status", "value", "limit")}
                      for ch in data.get("checks", []) if ch.get("status") != "pass"]
    return data


def run_case(case: PairCase, work_dir: str) -> dict[str, Any]:
    """Render, write and compare one pair; returns the case's record (measured and truth)."""
    kind = KINDS[case.kind]
    t0 = time.perf_counter()
    base_scene, follow_scene, evolution = make_scenes(kind, case.scene, np.random.default_rng(case.seed + (0,)))
    rb = render_shot(kind, base_scene, case.baseline, np.random.default_rng(case.seed + (1,)))
    rf = render_shot(kind, follow_scene, case.followup, np.random.default_rng(case.seed + (2,)))
    folder = Path(work_dir) / case.case_id
    record: dict[str, Any] = {"case_id": case.case_id, "group": case.group, "kind": case.kind,
                              "scene": case.scene,
                              "poses": {"baseline": case.baseline.pose.__dict__, "followup": case.followup.pose.__dict__}}
    f2b = normalised(rb.scalp_to_image @ np.linalg.inv(rf.scalp_to_image))
    record["truth_matrix"] = f2b.tolist()
    if case.group == "speed":
        return record | write_speed_pair(case, kind, rb, rf, folder, f2b)
    base_path = write_jpeg(folder / "baseline" / f"{kind.view}.jpg", rb.image, case.baseline.exif,
                           quality=JPEG_QUALITY)
    follow_path = write_jpeg(folder / VISIT / f"{kind.view}.jpg", rf.image, case.followup.exif,
                             quality=JPEG_QUALITY)
    record["render_s"] = time.perf_counter() - t0
    protocol = load_protocol()
    t0 = time.perf_counter()
    try:
        c = compare_pair(base_path, follow_path, protocol, mm_per_px=rb.mm_per_px, view=kind.measure_view,
                         hair_kind=kind.hair_kind, now=NOW)
    except Exception as exc:  # noqa: BLE001 - a failing pair is a result, not the end of the run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        record.update(compare_s=time.perf_counter() - t0,
                      error=f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno} in {where.name})",
                      traceback=traceback.format_exc()[-3000:])
        return record
    record["compare_s"] = time.perf_counter() - t0
    data = comparison_json(c)
    record["measured"] = data
    matrix = data["registration"]["matrix"]
    record["corner_errors_px"] = corner_errors_px(None if matrix is None else np.array(matrix), f2b,
                                                  case.image_size)
    common = c.images.get("common")
    if common is None:
        return record
    if common.shape != rb.image.shape[:2]:
        record["error"] = f"common mask {common.shape} is not in the baseline's pixels {rb.image.shape[:2]}"
        return record
    if kind.family == "crown":
        record["truth"] = crown_truth(rb, rf, common, f2b, (c.images.get("skin_baseline"),
                                                            c.images.get("skin_followup")))
    else:
        record["truth"] = tricho_truth(rb, rf, evolution, common, f2b, protocol.compare.vellus_max_width_um)
        record["truth"]["frame_density_per_cm2"] = {"baseline": rb.density_per_cm2, "followup": rf.density_per_cm2}
        # Diagnostic: detections whose shaft width is not a finite number (a single one makes
        # the reported mean width null).
        record["detections"] = {side: None if det is None else
                                {"paths": int(det.count),
                                 "nonfinite_widths": int(sum(1 for h in det.hairs if not np.isfinite(h.width_um)))}
                                for side, det in zip(("baseline", "followup"), c.detections)}
    return record


def write_speed_pair(case: PairCase, kind: Kind, rb, rf, folder: Path, f2b: np.ndarray) -> dict[str, Any]:
    """The 12 MP pair: 1600x1200 renders upscaled (cubic) to 4000x3000 with grain, JPEG q92."""
    rng = np.random.default_rng(case.seed + (3,))
    paths = []
    for visit, render, shot in (("baseline", rb, case.baseline), (VISIT, rf, case.followup)):
        big = upscale_with_grain(render.image, SPEED_SIZE, rng)
        paths.append(write_jpeg(folder / visit / f"{kind.view}.jpg", big, shot.exif, quality=SPEED_JPEG_QUALITY))
    up = upscale_matrix(IMAGE_SIZE, SPEED_SIZE)
    return {"paths": [str(p) for p in paths], "mm_per_px": rb.mm_per_px * IMAGE_SIZE[0] / SPEED_SIZE[0],
            "view": kind.measure_view, "hair_kind": kind.hair_kind,
            "truth_matrix_original": normalised(up @ f2b @ np.linalg.inv(up)).tolist(),
            "bytes": [p.stat().st_size for p in paths]}


def run_cases(cases: list[PairCase], work_dir: Path, jobs: int) -> list[dict[str, Any]]:
    """Run every case (in ``jobs`` processes), printing progress to stderr."""
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    step = max(1, len(cases) // 10)
    # The slow unclipped renders first, so both processes finish together.
    order = sorted(range(len(cases)), key=lambda i: (cases[i].group != "speed", cases[i].kind != "unclipped"))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        done = pool.map(run_case, [cases[i] for i in order], [str(work_dir)] * len(cases))
        by_index = {}
        for n, (i, res) in enumerate(zip(order, done), 1):
            by_index[i] = res
            if n % step == 0 or n == len(cases):
                print(f"  {n}/{len(cases)} pairs ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    results = [by_index[i] for i in range(len(cases))]
    return results


# --------------------------------------------------------------------------- analysis

def stats(values: list[float], signed: list[float] | None = None) -> dict[str, Any]:
    """Median, 95th percentile and max of absolute values, and the median signed value."""
    v = np.abs(np.asarray([x for x in values if x is not None and np.isfinite(x)], float))
    s = np.asarray([x for x in (signed if signed is not None else values) if x is not None and np.isfinite(x)], float)
    if len(v) == 0:
        return {"n": 0, "median_abs": None, "median_abs_ci95": None, "p95_abs": None, "max_abs": None, "bias": None}
    # How far the median itself could move with other cases: percentile bootstrap over cases.
    picks = np.random.default_rng(0).integers(0, len(v), size=(2000, len(v)))
    ci = np.percentile(np.median(v[picks], axis=1), [2.5, 97.5])
    return {"n": int(len(v)), "median_abs": float(np.median(v)), "median_abs_ci95": [float(ci[0]), float(ci[1])],
            "p95_abs": float(np.percentile(v, 95)), "max_abs": float(v.max()),
            "bias": float(np.median(s)) if len(s) else None}


def ok_tricho(r: dict[str, Any]) -> bool:
    return "truth" in r and "measured" in r and r["kind"] != "crown"


def density_flagged(measured: dict[str, Any]) -> bool:
    """Did photostation flag the pair's densities as unreliable (``density: ...`` flags)?"""
    return any(flag.startswith("density:") for flag in measured["flags"])


def image_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per trichoscopy image (baseline and follow-up of the density pairs)."""
    rows = []
    for r in results:
        if r["group"] != "density" or not ok_tricho(r):
            continue
        for side in ("baseline", "followup"):
            t, m = r["truth"][side], r["measured"][side]
            rows.append({
                "case_id": r["case_id"], "side": side, "kind": r["kind"], "colour": r["scene"]["hair_colour"],
                "truth_density": t["density_per_cm2"], "measured_density": m["density_per_cm2"],
                "density_err_pct": None if m["density_per_cm2"] is None
                else 100.0 * (m["density_per_cm2"] - t["density_per_cm2"]) / t["density_per_cm2"],
                "width_err_um": None if m["mean_shaft_width_um"] is None or t["mean_shaft_width_um"] is None
                else m["mean_shaft_width_um"] - t["mean_shaft_width_um"],
                "vellus_err_pts": None if m["vellus_pct"] is None or t["vellus_pct"] is None
                else m["vellus_pct"] - t["vellus_pct"],
                "truth_width_um": t["mean_shaft_width_um"], "truth_vellus_pct": t["vellus_pct"],
                "flagged": density_flagged(r["measured"]),
                "nonfinite_widths": ((r.get("detections") or {}).get(side) or {}).get("nonfinite_widths")})
    return rows


def density_band(d: float) -> str:
    return "100-150" if d < 150 else ("150-200" if d < 200 else "200-250+")


def density_tables(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Part 1: per-image density, width and vellus errors per kind, colour and density band."""
    rows = image_rows(results)
    pairs = [r for r in results if r["group"] == "density"]
    out: dict[str, Any] = {"by_kind": [], "by_colour": [], "by_band": [], "worst": []}
    for kind in ("clipped", "unclipped"):
        sel = [x for x in rows if x["kind"] == kind]
        failed = [r["case_id"] for r in pairs if r["kind"] == kind and not ok_tricho(r)]
        out["by_kind"].append({
            "kind": kind, "images": len(sel), "pairs_failed": failed,
            "truth_median": float(np.median([x["truth_density"] for x in sel])) if sel else None,
            "density_err_pct": stats([x["density_err_pct"] for x in sel]),
            "width_err_um": stats([x["width_err_um"] for x in sel]),
            "vellus_err_pts": stats([x["vellus_err_pts"] for x in sel]),
            "width_reported": sum(x["width_err_um"] is not None for x in sel),
            "images_with_nonfinite_widths": sum(bool(x["nonfinite_widths"]) for x in sel),
            "truth_width_median_um": float(np.median([x["truth_width_um"] for x in sel])) if sel else None,
            "truth_vellus_median_pct": float(np.median([x["truth_vellus_pct"] for x in sel])) if sel else None,
            "flagged_images": sum(x["flagged"] for x in sel),
            "flagged_colours": sorted({x["colour"] for x in sel if x["flagged"]}),
            "unflagged_density_err_pct": stats([x["density_err_pct"] for x in sel if not x["flagged"]])})
        for colour in HAIR_COLOURS:
            cs = [x for x in sel if x["colour"] == colour]
            if cs:
                out["by_colour"].append({"kind": kind, "colour": colour, "images": len(cs),
                                         "density_err_pct": stats([x["density_err_pct"] for x in cs]),
                                         "width_err_um": stats([x["width_err_um"] for x in cs])})
        for band in ("100-150", "150-200", "200-250+"):
            bs = [x for x in sel if density_band(x["truth_density"]) == band]
            if bs:
                out["by_band"].append({"kind": kind, "band": band, "images": len(bs),
                                       "density_err_pct": stats([x["density_err_pct"] for x in bs])})
        worst = sorted((x for x in sel if x["density_err_pct"] is not None),
                       key=lambda x: -abs(x["density_err_pct"]))[:3]
        out["worst"] += worst
    return out


def change_tables(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Part 2: density-change error (matching vs naive difference), in % of baseline density."""
    out: dict[str, Any] = {"by_kind": [], "pairs": []}
    for r in results:
        if r["group"] != "density" or not ok_tricho(r):
            continue
        t, m = r["truth"], r["measured"]
        base_truth = t["baseline"]["density_per_cm2"]
        matched = m["change"]["density_per_cm2"]
        naive = (None if m["followup"]["density_per_cm2"] is None or m["baseline"]["density_per_cm2"] is None
                 else m["followup"]["density_per_cm2"] - m["baseline"]["density_per_cm2"])
        out["pairs"].append({
            "case_id": r["case_id"], "kind": r["kind"], "colour": r["scene"]["hair_colour"],
            "comparable": m["comparable"], "flags": m["flags"], "flagged": density_flagged(m),
            "truth_change_per_cm2": t["change_per_cm2"], "truth_change_pct": t["change_pct"],
            "matched_change_per_cm2": matched, "naive_change_per_cm2": naive,
            "matched_err_pct": None if matched is None else 100.0 * (matched - t["change_per_cm2"]) / base_truth,
            "naive_err_pct": None if naive is None else 100.0 * (naive - t["change_per_cm2"]) / base_truth,
            "ci95": m["change"]["ci95_density_per_cm2"],
            "ci95_covers_truth": None if m["change"]["ci95_density_per_cm2"] is None else
            bool(m["change"]["ci95_density_per_cm2"][0] <= t["change_per_cm2"] <= m["change"]["ci95_density_per_cm2"][1]),
            "truth_lost": t["lost"], "truth_new": t["new"], "truth_matched": t["matched"],
            "lost": m["change"]["lost"], "new": m["change"]["new"], "matched": m["change"]["matched"],
            "outcome": m["change"]["outcome"], "opening_level_err_pct": t["opening_level_change_err_pct"]})
    for kind in ("clipped", "unclipped", "all"):
        sel = [p for p in out["pairs"] if kind == "all" or p["kind"] == kind]
        with_both = [p for p in sel if p["matched_err_pct"] is not None and p["naive_err_pct"] is not None]
        covers = [p["ci95_covers_truth"] for p in sel if p["ci95_covers_truth"] is not None]
        out["by_kind"].append({
            "kind": kind, "pairs": len(sel),
            "no_change_reported": sum(p["matched_err_pct"] is None for p in sel),
            "truth_change_pct_range": [min((p["truth_change_pct"] for p in sel), default=None),
                                       max((p["truth_change_pct"] for p in sel), default=None)],
            "matched": stats([p["matched_err_pct"] for p in sel]),
            "naive": stats([p["naive_err_pct"] for p in sel]),
            "opening_level": stats([p["opening_level_err_pct"] for p in sel]),
            "flagged_pairs": sum(p["flagged"] for p in sel),
            "unflagged_matched": stats([p["matched_err_pct"] for p in sel if not p["flagged"]]),
            "matched_better_pct": None if not with_both else
            100.0 * sum(abs(p["matched_err_pct"]) < abs(p["naive_err_pct"]) for p in with_both) / len(with_both),
            "ci95_coverage_pct": None if not covers else 100.0 * sum(covers) / len(covers),
            "median_truth_lost": _median([p["truth_lost"] for p in sel]),
            "median_lost": _median([p["lost"] for p in sel]),
            "median_truth_new": _median([p["truth_new"] for p in sel]),
            "median_new": _median([p["new"] for p in sel]),
            "median_truth_matched": _median([p["truth_matched"] for p in sel]),
            "median_matched": _median([p["matched"] for p in sel])})
    return out


def _median(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else None


def registration_tables(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Part 3: corner errors per kind, for the large-motion set and the natural-motion pairs.

    An unregistered pair (no matrix, or an exception) counts as an infinite error in the
    median."""
    out: dict[str, Any] = {"rows": [], "pooled": {}}
    sets = {"large": ("registration",), "natural": ("density", "coverage")}
    for set_name, groups in sets.items():
        for kind in ("clipped", "unclipped", "crown"):
            sel = [r for r in results if r["group"] in groups and r["kind"] == kind]
            if sel:
                out["rows"].append(_registration_row(sel, set_name, kind))
        for family, kinds in (("trichoscopy", ("clipped", "unclipped")), ("crown", ("crown",)),
                              ("all", ("clipped", "unclipped", "crown"))):
            sel = [r for r in results if r["group"] in groups and r["kind"] in kinds]
            if sel:
                out["pooled"][f"{set_name}/{family}"] = _registration_row(sel, set_name, family)
    out["worst"] = sorted(({"case_id": r["case_id"], "max_corner_px": max(r["corner_errors_px"]),
                            "followup_pose": r["poses"]["followup"], "residual_px": r["measured"]["registration"]["residual_px"],
                            "inliers": r["measured"]["registration"]["inliers"]}
                           for r in results if r.get("corner_errors_px")),
                          key=lambda x: -x["max_corner_px"])[:5]
    return out


def _registration_row(sel: list[dict[str, Any]], set_name: str, kind: str) -> dict[str, Any]:
    corners: list[float] = []
    per_pair_max: list[float] = []
    unregistered = []
    for r in sel:
        ce = r.get("corner_errors_px")
        if ce is None:
            unregistered.append(r["case_id"])
            corners += [math.inf] * 4
            per_pair_max.append(math.inf)
        else:
            corners += ce
            per_pair_max.append(max(ce))
    residuals = [r["measured"]["registration"]["residual_px"] for r in sel
                 if "measured" in r and r["measured"]["registration"]["residual_px"] is not None]
    c = np.asarray(corners, float)
    finite = c[np.isfinite(c)]
    return {"set": set_name, "kind": kind, "pairs": len(sel), "unregistered": unregistered,
            "not_comparable": sum(1 for r in sel if "measured" in r and not r["measured"]["comparable"]),
            "median_px": float(np.median(c)) if len(c) else None,
            "p95_px": float(np.percentile(c, 95)) if len(c) else None,
            "max_px": float(c.max()) if len(c) else None,
            "max_registered_px": float(finite.max()) if len(finite) else None,
            "pair_max_median_px": float(np.median(per_pair_max)) if per_pair_max else None,
            "reported_residual_median_px": _median(residuals)}


def coverage_tables(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Part 4: coverage error per colour (both images of each coverage pair) and change error."""
    out: dict[str, Any] = {"by_colour": [], "pairs": []}
    for r in results:
        if r["group"] != "coverage" or "truth" not in r or "measured" not in r:
            continue
        t, m = r["truth"], r["measured"]
        err = {s: None if m[s]["coverage_pct"] is None else m[s]["coverage_pct"] - t[s]["coverage_pct"]
               for s in ("baseline", "followup")}
        reported = m["change"]["coverage_pct_points"]
        diff = (None if None in (m["followup"]["coverage_pct"], m["baseline"]["coverage_pct"])
                else m["followup"]["coverage_pct"] - m["baseline"]["coverage_pct"])
        change = reported if reported is not None else diff
        out["pairs"].append({"case_id": r["case_id"], "colour": r["scene"]["hair_colour"],
                             "comparable": m["comparable"], "flags": m["flags"],
                             "truth": {s: t[s]["coverage_pct"] for s in ("baseline", "followup")},
                             "measured": {s: m[s]["coverage_pct"] for s in ("baseline", "followup")},
                             "err_pts": err, "truth_change_pts": t["change_pts"], "change_pts": change,
                             "err_on_true_area_pts": {s: None if t["measured_on_true_area_pct"][s] is None
                                                      else t["measured_on_true_area_pct"][s] - t[s]["coverage_pct"]
                                                      for s in ("baseline", "followup")},
                             "not_scalp_hair_pct": t["not_scalp_hair_pct"],
                             "change_from_sides": reported is None,
                             "change_err_pts": None if change is None else change - t["change_pts"],
                             "not_scalp_pct": t["not_scalp_pct"], "scalp_missed_pct": t["scalp_missed_pct"]})
    for colour in list(COVERAGE_COLOURS) + ["all"]:
        sel = [p for p in out["pairs"] if colour == "all" or p["colour"] == colour]
        if not sel:
            continue
        errs = [p["err_pts"][s] for p in sel for s in ("baseline", "followup")]
        out["by_colour"].append({
            "colour": colour, "pairs": len(sel), "images": 2 * len(sel),
            "truth_median_pct": _median([p["truth"][s] for p in sel for s in ("baseline", "followup")]),
            "truth_range_pct": [min(p["truth"][s] for p in sel for s in ("baseline", "followup")),
                                max(p["truth"][s] for p in sel for s in ("baseline", "followup"))],
            "coverage_err_pts": stats(errs),
            "within_target_pct": 100.0 * sum(e is not None and abs(e) <= TARGET_COVERAGE_PTS for e in errs) / len(errs),
            "change_err_pts": stats([p["change_err_pts"] for p in sel]),
            "err_on_true_area_pts": stats([p["err_on_true_area_pts"][s] for p in sel for s in ("baseline", "followup")]),
            "not_scalp_hair_median_pct": _median([p["not_scalp_hair_pct"] for p in sel]),
            "not_scalp_median_pct": _median([p["not_scalp_pct"] for p in sel]),
            "scalp_missed_median_pct": _median([p["scalp_missed_pct"] for p in sel]),
            "not_comparable": sum(not p["comparable"] for p in sel)})
    return out


# --------------------------------------------------------------------------- speed

def best_time_s(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Run once untimed (warm-up), then ``repeats`` times; best time, all times, last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, result


def plain_decode(path: str) -> np.ndarray:
    """One full-resolution decode, the reference cost."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def speed_worker(spec_file: str) -> int:
    """Inside the pinned subprocess: time decode and compare_pair for each 12 MP pair; JSON out."""
    cv2.setNumThreads(1)
    protocol = load_protocol()
    out = {"affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
           "cv2_threads": cv2.getNumThreads(), "pairs": []}
    for spec in json.loads(Path(spec_file).read_text()):
        base, follow = spec["paths"]
        decode_s, decode_all, _ = best_time_s(lambda: (plain_decode(base), plain_decode(follow)), SPEED_REPEATS)
        run = lambda: compare_pair(base, follow, protocol, mm_per_px=spec["mm_per_px"],  # noqa: E731
                                   view=spec["view"], hair_kind=spec["hair_kind"], now=NOW)
        compare_s, compare_all, c = best_time_s(run, SPEED_REPEATS)
        data = c.to_json()
        out["pairs"].append({"kind": spec["kind"], "decode_both_s": decode_s, "decode_all_s": decode_all,
                             "compare_s": compare_s, "compare_all_s": compare_all,
                             "comparable": data["comparable"], "flags": data["flags"],
                             "matrix": data["registration"]["matrix"],
                             "baseline": data["baseline"], "followup": data["followup"]})
    print(json.dumps(out))
    return 0


def speed_benchmark(speed_cases: list[dict[str, Any]], work_dir: Path) -> dict[str, Any]:
    """Run the timing subprocess on one core (taskset -c 0, one thread per library)."""
    specs = [{"kind": r["kind"], "paths": r["paths"], "mm_per_px": r["mm_per_px"], "view": r["view"],
              "hair_kind": r["hair_kind"]} for r in speed_cases]
    spec_file = work_dir / "speed.json"
    spec_file.write_text(json.dumps(specs))
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENCV_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", NUMEXPR_NUM_THREADS="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--speed-worker", str(spec_file)]
    taskset = shutil.which("taskset")
    if taskset:
        cmd = [taskset, "-c", "0"] + cmd
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-2000:], "pinned": bool(taskset)}
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    for pair, case in zip(data["pairs"], speed_cases):
        pair["ratio_to_decode"] = pair["compare_s"] / pair["decode_both_s"]
        pair["bytes"] = case["bytes"]
        pair["corner_errors_px"] = corner_errors_px(None if pair["matrix"] is None else np.array(pair["matrix"]),
                                                    np.array(case["truth_matrix_original"]), SPEED_SIZE)
    return data | {"pinned": bool(taskset), "subprocess_wall_s": wall, "load_average_before": load_before,
                   "image_size": list(SPEED_SIZE), "jpeg_quality": SPEED_JPEG_QUALITY, "repeats": SPEED_REPEATS}


# --------------------------------------------------------------------------- report

def verdict_word(ok: bool | None) -> str:
    return "MISS (not measured)" if ok is None else ("PASS" if ok else "MISS")


def f(v: float | None, width: int = 7, digits: int = 2) -> str:
    if v is None:
        return f"{'n/a':>{width}}"
    if not np.isfinite(v):
        return f"{'inf':>{width}}"
    return f"{v:{width}.{digits}f}"


def print_density(d: dict[str, Any]) -> None:
    print("\n== 1. Per-image density (trichoscopy, common area; truth = rendered emergence points) ==")
    print(f"{'kind':<10}{'imgs':>5}{'truth/cm2':>10} | {'|err|% med':>10}{'p95':>7}{'max':>7}{'bias':>7} | "
          f"{'width um: |err| med':>19}{'bias':>7} (truth {'med':>3}) | {'vellus pts: |err| med':>21}{'bias':>7}")
    for row in d["by_kind"]:
        e, w, v = row["density_err_pct"], row["width_err_um"], row["vellus_err_pts"]
        print(f"{row['kind']:<10}{row['images']:>5}{f(row['truth_median'], 10, 0)} | {f(e['median_abs'], 10)}"
              f"{f(e['p95_abs'])}{f(e['max_abs'])}{f(e['bias'])} | {f(w['median_abs'], 19, 1)}{f(w['bias'], 7, 1)}"
              f" ({f(row['truth_width_median_um'], 5, 0)}) | {f(v['median_abs'], 21, 1)}{f(v['bias'], 7, 1)}"
              + (f"  failed pairs: {row['pairs_failed']}" if row["pairs_failed"] else ""))
    for row in d["by_kind"]:
        if row["width_reported"] < row["images"]:
            print(f"  {row['kind']}: mean shaft width reported for {row['width_reported']} of {row['images']} images; "
                  f"{row['images_with_nonfinite_widths']} images have detections with a non-finite width")
    print("-- images whose pair photostation flagged as unreliable ('density: light hair' / 'grey hair' / 'long hair')")
    for row in d["by_kind"]:
        u = row["unflagged_density_err_pct"]
        print(f"  {row['kind']}: {row['flagged_images']} of {row['images']} images flagged "
              f"({', '.join(row['flagged_colours']) or 'none'}); the other {u['n']}: median |err| "
              f"{f(u['median_abs']).strip()} %, max {f(u['max_abs']).strip()} %")
    print("-- by hair colour")
    print(f"{'kind':<10}{'colour':<11}{'imgs':>5} {'|err|% med':>10}{'max':>7}{'bias':>7}  {'width bias um':>13}")
    for row in d["by_colour"]:
        e = row["density_err_pct"]
        print(f"{row['kind']:<10}{row['colour']:<11}{row['images']:>5} {f(e['median_abs'], 10)}{f(e['max_abs'])}"
              f"{f(e['bias'])}  {f(row['width_err_um']['bias'], 13, 1)}")
    print("-- by true density (hairs/cm2)")
    for row in d["by_band"]:
        e = row["density_err_pct"]
        print(f"{row['kind']:<10}{row['band']:<11}{row['images']:>5} {f(e['median_abs'], 10)}{f(e['max_abs'])}{f(e['bias'])}")
    print("-- worst images")
    for x in d["worst"]:
        print(f"  {x['case_id']} {x['side']:<9} {x['colour']:<10} truth {x['truth_density']:6.1f} "
              f"measured {f(x['measured_density'], 6, 1).strip()} /cm2 ({x['density_err_pct']:+.1f} %)")


def print_change(ch: dict[str, Any]) -> None:
    print("\n== 2. Density change (error in % of the true baseline density) ==")
    print(f"{'kind':<10}{'pairs':>6}{'truth chg %':>14} | {'matched: |err| med':>18}{'p95':>7}{'max':>7}{'bias':>7} | "
          f"{'naive: |err| med':>16}{'p95':>7}{'max':>7}{'bias':>7} | {'m<n %':>6}{'CI95 ok%':>9}")
    for row in ch["by_kind"]:
        m, n = row["matched"], row["naive"]
        lo, hi = row["truth_change_pct_range"]
        rng = "n/a" if lo is None else f"{lo:+.0f}..{hi:+.0f}"
        print(f"{row['kind']:<10}{row['pairs']:>6}{rng:>14} | {f(m['median_abs'], 18)}{f(m['p95_abs'])}{f(m['max_abs'])}"
              f"{f(m['bias'])} | {f(n['median_abs'], 16)}{f(n['p95_abs'])}{f(n['max_abs'])}{f(n['bias'])} | "
              f"{f(row['matched_better_pct'], 6, 0)}{f(row['ci95_coverage_pct'], 9, 0)}"
              + (f"  (no change reported: {row['no_change_reported']})" if row["no_change_reported"] else ""))
    print("-- the same pairs' truth, with every follicle opening matched exactly but the hairs within a unit not "
          "counted (the floor of opening-level matching)")
    for row in ch["by_kind"]:
        o = row["opening_level"]
        print(f"  {row['kind']}: |err| median {f(o['median_abs']).strip()} %, p95 {f(o['p95_abs']).strip()} %")
    for row in ch["by_kind"]:
        u = row["unflagged_matched"]
        print(f"  {row['kind']}: {row['flagged_pairs']} of {row['pairs']} pairs flagged unreliable; the other {u['n']}: "
              f"matched |err| median {f(u['median_abs']).strip()} %, p95 {f(u['p95_abs']).strip()} %")
    print("-- hair matching against the renderer's hair identities (medians per pair, common area)")
    print(f"{'kind':<10}{'matched':>9}{'(truth)':>8}{'lost':>7}{'(truth)':>8}{'new':>7}{'(truth)':>8}")
    for row in ch["by_kind"]:
        print(f"{row['kind']:<10}{f(row['median_matched'], 9, 0)}{f(row['median_truth_matched'], 8, 0)}"
              f"{f(row['median_lost'], 7, 0)}{f(row['median_truth_lost'], 8, 0)}{f(row['median_new'], 7, 0)}"
              f"{f(row['median_truth_new'], 8, 0)}")
    print("  (m<n %: pairs where matching beat the naive difference; CI95 ok%: pairs whose reported 95 % interval "
          "contains the true change)")


def print_registration(reg: dict[str, Any]) -> None:
    print("\n== 3. Registration (corner error of the follow-up frame, baseline px at 1600x1200) ==")
    print(f"{'set':<9}{'kind':<12}{'pairs':>6}{'unreg':>6}{'n.comp':>7} {'median':>7}{'p95':>7}{'max':>8}"
          f"{'pair-max med':>13}{'resid med':>10}")
    rows = reg["rows"] + [reg["pooled"][k] for k in reg["pooled"] if k.endswith(("/trichoscopy", "/all"))]
    for row in rows:
        print(f"{row['set']:<9}{row['kind']:<12}{row['pairs']:>6}{len(row['unregistered']):>6}{row['not_comparable']:>7} "
              f"{f(row['median_px'], 7, 3)}{f(row['p95_px'], 7, 3)}{f(row['max_px'], 8, 3)}"
              f"{f(row['pair_max_median_px'], 13, 3)}{f(row['reported_residual_median_px'], 10, 3)}")
    print("  (large: roll -30..30 deg, scale x0.8..1.2, tilt 0..8 deg; natural: the density and coverage pairs; "
          "n.comp: pairs compare_pair declared not comparable; unregistered pairs count as infinite error)")
    for w in reg["worst"][:3]:
        p = w["followup_pose"]
        print(f"  worst {w['case_id']}: max corner {w['max_corner_px']:.2f} px (follow-up roll {p['rotation_deg']:+.1f}, "
              f"tilt {p['tilt_deg']:.1f}, scale {p['scale']:.3f}; {w['inliers']} inliers, residual {w['residual_px']})")


def print_coverage(cov: dict[str, Any]) -> None:
    print("\n== 4. Coverage (crown, global view; truth = rendered hair mask over the common scalp area) ==")
    print(f"{'colour':<11}{'imgs':>5}{'truth % range':>14} | {'|err| med':>9}{'p95':>7}{'max':>7}{'bias':>7}{'<=2pt%':>7} | "
          f"{'change |err| med':>16}{'max':>7}{'bias':>7} | {'not scalp%':>10}{'(hair%)':>8}{'missed%':>8}"
          f"{'n.comp':>7} | {'true-area |err| med':>19}{'bias':>7}")
    for row in cov["by_colour"]:
        e, c, t = row["coverage_err_pts"], row["change_err_pts"], row["err_on_true_area_pts"]
        lo, hi = row["truth_range_pct"]
        print(f"{row['colour']:<11}{row['images']:>5}{f'{lo:.0f}-{hi:.0f}':>14} | {f(e['median_abs'], 9)}"
              f"{f(e['p95_abs'])}{f(e['max_abs'])}{f(e['bias'])}{f(row['within_target_pct'], 7, 0)} | "
              f"{f(c['median_abs'], 16)}{f(c['max_abs'])}{f(c['bias'])} | {f(row['not_scalp_median_pct'], 10, 1)}"
              f"{f(row['not_scalp_hair_median_pct'], 8, 0)}{f(row['scalp_missed_median_pct'], 8, 1)}"
              f"{row['not_comparable']:>7} | {f(t['median_abs'], 19)}{f(t['bias'])}")
    print("  (not scalp%: share of photostation's common area that is not scalp in both renders, (hair%) how much of "
          "that is hair beyond the head outline; missed%: share of the true common scalp left out; true-area: "
          "photostation's skin masks read over the true common scalp, i.e. the classification error alone)")


def print_speed(speed: dict[str, Any]) -> None:
    print(f"\n== 5. Speed (12 MP pair, {SPEED_SIZE[0]}x{SPEED_SIZE[1]} JPEG q{SPEED_JPEG_QUALITY}; one core"
          f"{' (taskset -c 0)' if speed.get('pinned') else ' (taskset missing: NOT pinned)'}, one thread; "
          f"warm, best of {SPEED_REPEATS}) ==")
    if "error" in speed:
        print(f"speed subprocess failed: {speed['error']}")
        return
    print(f"{'pair':<10}{'MB':>9}{'decode both s':>14}{'compare s':>10}{'ratio':>7}{'all runs s':>22}  {'corner err px':>13}")
    for p in speed["pairs"]:
        ce = p["corner_errors_px"]
        print(f"{p['kind']:<10}{sum(p['bytes']) / 1e6:9.1f}{p['decode_both_s']:14.3f}{p['compare_s']:10.2f}"
              f"{p['ratio_to_decode']:7.1f}{' / '.join(f'{t:.2f}' for t in p['compare_all_s']):>22}  "
              f"{'n/a' if ce is None else f'{np.median(ce):.2f} (max {max(ce):.2f})':>13}")
    print(f"  affinity {speed['affinity']}, cv2 threads {speed['cv2_threads']}, load average before "
          f"{speed['load_average_before'][0]:.2f}")


def targets(dens: dict[str, Any], ch: dict[str, Any], reg: dict[str, Any], cov: dict[str, Any],
            speed: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's targets with the measured value and PASS/MISS."""
    def within(v: float | None, limit: float) -> bool | None:
        return None if v is None else bool(v <= limit)

    rows = []
    for row in dens["by_kind"]:
        v = row["density_err_pct"]["median_abs"]
        lim = TARGET_DENSITY_PCT[row["kind"]]
        rows.append((f"density |err| median, {row['kind']} (%)", v, f"<= {lim:g}", within(v, lim),
                     _ci_note(row["density_err_pct"])))
    for row in ch["by_kind"]:
        if row["kind"] == "all":
            continue
        v = row["matched"]["median_abs"]
        rows.append((f"change |err| median, {row['kind']} (%)", v, f"<= {TARGET_CHANGE_PCT:g}",
                     within(v, TARGET_CHANGE_PCT), f"{_ci_note(row['matched'])}; goal {GOAL_CHANGE_PCT:g}; "
                     f"naive {f(row['naive']['median_abs'], 0).strip()}"))
    for family in ("trichoscopy", "crown"):
        row = reg["pooled"].get(f"large/{family}")
        v = None if row is None else row["median_px"]
        rows.append((f"registration corner median, {family} (px)", v, f"<= {TARGET_CORNER_PX:g}",
                     within(v, TARGET_CORNER_PX), None))
    all_cov = next((r for r in cov["by_colour"] if r["colour"] == "all"), None)
    v = None if all_cov is None else all_cov["coverage_err_pts"]["p95_abs"]
    rows.append(("coverage |err| p95 (points)", v, f"<= {TARGET_COVERAGE_PTS:g}", within(v, TARGET_COVERAGE_PTS),
                 None if all_cov is None else f"median {f(all_cov['coverage_err_pts']['median_abs'], 0)}"))
    for kind in ("clipped", "crown"):
        p = None if speed is None or "pairs" not in speed else next((x for x in speed["pairs"] if x["kind"] == kind), None)
        v = None if p is None else p["compare_s"]
        label = "trichoscopy" if kind == "clipped" else "crown"
        rows.append((f"12 MP compare, {label}, 1 core (s)", v, f"<= {TARGET_SPEED_S:g}", within(v, TARGET_SPEED_S),
                     None if p is None else f"{p['ratio_to_decode']:.1f}x decoding both"))
    return [{"target": n, "value": v, "limit": lim, "met": ok, "note": note} for n, v, lim, ok, note in rows]


def _ci_note(st: dict[str, Any]) -> str | None:
    ci = st.get("median_abs_ci95")
    return None if ci is None else f"median's 95 % CI {ci[0]:.2f}-{ci[1]:.2f} over {st['n']}"


def print_headline(rows: list[dict[str, Any]]) -> None:
    print("\n== Headline ==")
    for row in rows:
        v = "n/a" if row["value"] is None else ("inf" if not np.isfinite(row["value"]) else f"{row['value']:.2f}")
        note = f"  ({row['note']})" if row["note"] else ""
        print(f"{row['target']:<44}{v:>8}  target {row['limit']:<7} {verdict_word(row['met'])}{note}")


# --------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = benchmark_parser(__doc__.split("\n\n")[0], DEFAULT_OUT, quick="fewer pairs (about 3 minutes)",
                          jobs="processes rendering and comparing pairs (default: up to 2)")
    ap.add_argument("--no-speed", action="store_true", help="skip the 12 MP speed part")
    ap.add_argument("--speed-worker", metavar="SPEC", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.speed_worker:
        return speed_worker(args.speed_worker)
    mode = "quick" if args.quick else "full"
    counts = COUNTS[mode]
    started = time.perf_counter()
    version = code_version()
    with photo_folder("compare", args.keep) as work_dir:
        cases = build_cases(args.seed, counts, speed=not args.no_speed)
        print(f"compare ({mode}, seed {args.seed}): {len(cases)} pairs, {args.jobs} process(es), "
              f"photos in {work_dir}", file=sys.stderr)
        results = run_cases(cases, work_dir, args.jobs)
        errors = [(r["case_id"], r["error"]) for r in results if "error" in r]
        accuracy = [r for r in results if r["group"] != "speed"]
        dens = density_tables(accuracy)
        ch = change_tables(accuracy)
        reg = registration_tables(accuracy)
        cov = coverage_tables(accuracy)
        print_density(dens)
        print_change(ch)
        print_registration(reg)
        print_coverage(cov)
        speed = None
        speed_cases = [r for r in results if r["group"] == "speed"]
        if speed_cases:
            print("  speed: timing the 12 MP pairs on one core ...", file=sys.stderr)
            speed = speed_benchmark(speed_cases, work_dir)
            print_speed(speed)
        if errors:
            print("\nPairs that raised:")
            for case_id, err in errors:
                print(f"  {case_id}: {err}")
        area_diff = [100.0 * abs(r["truth"]["area_cm2"] / r["truth"]["area_cm2_exact"] - 1) for r in accuracy
                     if "truth" in r and "area_cm2_exact" in r["truth"]]
        if area_diff:
            print(f"\n(note: the common area as area_px * mm_per_px^2 differs from the exact scalp area by at most "
                  f"{max(area_diff):.2f} % over the trichoscopy pairs)")
        rows = targets(dens, ch, reg, cov, speed)
        print_headline(rows)
        version_end = code_version()
        # the content, not the file time: a file saved again unchanged does not taint the run
        changed = [k for k, v in version.items() if k.endswith(".py")
                   and (version_end.get(k) or {}).get("sha256") != v["sha256"]]
        if changed:
            print(f"\nWARNING: changed while the benchmark ran: {', '.join(changed)}. The accuracy parts used the "
                  f"version at the start (the worker processes had imported it); the speed subprocess imported the "
                  f"newer one.")
        runtime_s = time.perf_counter() - started
        print(f"\nruntime {runtime_s:.0f} s; render {sum(r.get('render_s', 0) for r in results):.0f} s and "
              f"compare {sum(r.get('compare_s', 0) for r in results):.0f} s summed over pairs")
        write_results(args.out, {
            "benchmark": "compare", "mode": mode, "seed": args.seed, "counts": counts,
            "image_size": list(IMAGE_SIZE), "now": NOW.isoformat(), "visit": VISIT,
            "kinds": {k: v.__dict__ for k, v in KINDS.items()}, "targets": rows,
            "density": dens, "change": ch, "registration": reg, "coverage": cov, "speed": speed,
            "code": version, "code_changed_during_run": changed,
            "errors": errors, "runtime_s": runtime_s, "cases": results})
        print(f"results: {args.out}")
    return 0


def code_version() -> dict[str, Any]:
    """The git commit and the state of the files being worked on (the hair detector changes
    often: its digest ties the numbers to one version)."""
    import hashlib

    out: dict[str, Any] = {}
    try:
        out["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                       cwd=ROOT).stdout.strip() or None
        status = subprocess.run(["git", "status", "--porcelain", "--", "pipelines", "photostation", "calibration"],
                                capture_output=True, text=True, cwd=ROOT).stdout.splitlines()
        out["uncommitted"] = [line.strip() for line in status]
    except OSError:
        out["commit"] = None
    for name in ("pipelines/trichoscopy.py", "pipelines/hair_pair.py", "pipelines/compare.py", "pipelines/matching.py", "pipelines/registration.py"):
        path = ROOT / name
        if path.exists():
            out[name] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
                         "modified": datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat()}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
