"""The product's demo archive: three patients, baseline and month 6, with exact truth.

Layout::

    OUT/<patient>/<visit>/<view>.jpg      views: vertex, tricho-vertex, tricho-midscalp
    OUT/manifest.csv                      visit rows (date, operator, station) + site rows
    OUT/ground_truth.json                 per photo, per baseline/follow-up pair, drift

P001 responds to treatment, P002 is stable, and P003's month-6 visit is deliberately
drifted (late visit, other camera body and settings, edited files with inconsistent
timestamps, darker and warmer light with a gradient, changed angle and distance).
Run ``python -m photostation.synthetic.samples OUT_DIR [--seed N]``.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from skimage.measure import points_in_poly

from .camera import Lighting, Optics, Pose, frame_footprint_mm, polygon_area, \
    scalp_to_image_homography
from .crown import CROWN_FOCAL_LENGTH_35MM, CrownHead, evolve_crown, render_crown
from .exif_writer import ExifFields, write_jpeg
from .scene import ScalpPatch, evolve_patch, make_scalp_patch
from .trichoscopy import TRICHO_FOCAL_LENGTH_35MM, hair_emergence_mm, hairs_in_frame, \
    render_trichoscopy

GENERATOR = "photostation.synthetic.samples"
VISITS = ("baseline", "month-6")
VIEWS = ("vertex", "tricho-vertex", "tricho-midscalp")
PROTOCOL_INTERVAL_DAYS = 182
PROTOCOL_WINDOW_DAYS = 21
SITES = {
    "tricho-vertex": "tattoo dot 2 cm behind vertex whorl",
    "tricho-midscalp": "tattoo dot 10 cm behind frontal hairline, midline",
}
TRICHO_FIELD_WIDTH_MM = 10.0
CROWN_FIELD_WIDTH_MM = 260.0
STATIONS = {
    "station-1": {"crown_serial": "083021001742", "tricho_serial": "MC1000S-21-0457"},
    "station-2": {"crown_serial": "083021005319", "tricho_serial": "MC1000S-22-0913"},
}
LIGHTROOM = "Adobe Photoshop Lightroom Classic 13.1"


@dataclass(frozen=True)
class SamplePhoto:
    """One photo of the archive (``key`` is ``"P001/baseline/vertex"``)."""

    key: str
    path: Path
    kind: str


@dataclass(frozen=True)
class SampleArchive:
    """What :func:`generate_sample_archive` wrote."""

    out_dir: Path
    seed: int
    photos: tuple[SamplePhoto, ...]
    manifest_path: Path
    ground_truth_path: Path
    total_bytes: int


@dataclass(frozen=True)
class _PatientPlan:
    patient: str
    baseline_date: date
    baseline_clock: time
    interval_days: int
    followup_clock: time
    operators: tuple[str, str]
    stations: tuple[str, str]
    vertex_density_per_cm2: float
    midscalp_density_per_cm2: float
    density_change_pct: tuple[float, float]  # accepted range of the in-frame change
    width_change_um: float
    hair_colour: str
    grey_share: float
    melanin: float
    thinning_severity: float
    coverage_change_pts: float
    drifted: bool


def _plans(rng: np.random.Generator) -> list[_PatientPlan]:
    jitter = rng.integers(-9, 10, size=2)
    return [
        _PatientPlan("P001", date(2026, 2, 2), time(9, 12), 182 + int(jitter[0]), time(9, 40),
                     ("op-anna", "op-anna"), ("station-1", "station-1"), 118.0, 165.0,
                     (10.0, 15.0), 4.0, "dark_brown", 0.0, 0.18, 0.82, 4.0, False),
        _PatientPlan("P002", date(2026, 2, 16), time(14, 31), 182 + int(jitter[1]), time(15, 5),
                     ("op-ben", "op-ben"), ("station-2", "station-2"), 185.0, 205.0,
                     (-1.5, 1.5), 0.0, "black", 0.0, 0.45, 0.45, 0.0, False),
        _PatientPlan("P003", date(2026, 3, 2), time(10, 5), 230, time(16, 48),
                     ("op-anna", "op-ben"), ("station-1", "station-2"), 140.0, 160.0,
                     (-6.0, -2.0), -2.0, "brown", 0.06, 0.25, 0.65, -1.5, True),
    ]


def _last_sunday(year: int, month: int) -> date:
    d = date(year, month + 1, 1) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() + 1) % 7)


def central_european_offset(local: datetime) -> timezone:
    """UTC offset of Central European (summer) time for a naive local time.

    Summer time runs from the last Sunday of March to the last Sunday of October
    (EU Directive 2000/84/EC); the hour of the switch itself is not disambiguated.

    Parameters
    ----------
    local : datetime.datetime
        Naive local wall-clock time.

    Returns
    -------
    datetime.timezone
        UTC+01:00 or UTC+02:00.
    """
    start = datetime.combine(_last_sunday(local.year, 3), time(2, 0))
    end = datetime.combine(_last_sunday(local.year, 10), time(3, 0))
    return timezone(timedelta(hours=2 if start <= local < end else 1))


def _aware(local: datetime) -> datetime:
    return local.replace(tzinfo=central_european_offset(local))


def _random_pose(rng: np.random.Generator, kind: str) -> Pose:
    """Natural repositioning error of a standardised set-up."""
    shift_sd = 0.25 if kind == "trichoscopy" else 2.0
    return Pose(rotation_deg=float(rng.normal(0, 1.5)), tilt_deg=float(abs(rng.normal(0, 1.2))),
                tilt_axis_deg=float(rng.uniform(0, 180)), scale=float(1 + rng.normal(0, 0.015)),
                shift_mm=(float(rng.normal(0, shift_sd)), float(rng.normal(0, shift_sd))))


def _random_lighting(rng: np.random.Generator, kind: str) -> Lighting:
    return Lighting(exposure_ev=float(rng.normal(0, 0.05)),
                    white_balance_shift_mired=float(rng.normal(0, 3)),
                    gradient_strength=float(rng.uniform(0.0, 0.05)),
                    gradient_direction_deg=float(rng.uniform(0, 360)),
                    vignetting=0.22 if kind == "trichoscopy" else 0.12)


def _drift_pose(kind: str) -> Pose:
    if kind == "crown":
        return Pose(rotation_deg=12.0, tilt_deg=8.0, tilt_axis_deg=30.0, scale=1.10,
                    shift_mm=(4.0, -3.0))
    return Pose(rotation_deg=20.0, tilt_deg=1.5, tilt_axis_deg=60.0, scale=1.0,
                shift_mm=(0.8, 0.6))


def _drift_lighting(kind: str) -> Lighting:
    return Lighting(exposure_ev=-0.7, white_balance_shift_mired=40.0, gradient_strength=0.35,
                    gradient_direction_deg=0.0,
                    vignetting=0.22 if kind == "trichoscopy" else 0.12)


def _exif(kind: str, station: str, captured: datetime, drifted: bool,
          size: tuple[int, int]) -> ExifFields:
    serials = STATIONS[station]
    if kind == "crown":
        f = ExifFields(make="Canon", model="Canon EOS R8", serial=serials["crown_serial"],
                       lens="RF24-105mm F4-7.1 IS STM", focal_length_mm=50.0,
                       focal_length_35mm=int(CROWN_FOCAL_LENGTH_35MM),
                       exposure_time_s=Fraction(1, 125), f_number=8.0, iso=100,
                       flash_fired=True, white_balance="manual", captured_at=captured,
                       width_px=size[0], height_px=size[1])
    else:
        f = ExifFields(make="FotoFinder", model="medicam 1000s", serial=serials["tricho_serial"],
                       lens="medicam 1000s 20x", focal_length_mm=4.4,
                       focal_length_35mm=int(TRICHO_FOCAL_LENGTH_35MM),
                       exposure_time_s=Fraction(1, 30), f_number=5.6, iso=100,
                       flash_fired=False, white_balance="manual", captured_at=captured,
                       width_px=size[0], height_px=size[1])
    if drifted:
        f = replace(f, iso=400, exposure_time_s=Fraction(1, 60), white_balance="auto",
                    software=LIGHTROOM, modified_at=captured + timedelta(days=3, minutes=17))
    return f


def _matrix(h: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in h / h[2, 2]]


def _overlap(foot_a: np.ndarray, foot_b: np.ndarray) -> np.ndarray:
    area, poly = cv2.intersectConvexConvex(foot_a.astype(np.float32), foot_b.astype(np.float32))
    return np.zeros((0, 2)) if poly is None or area <= 0 else poly.reshape(-1, 2).astype(float)


def _emergence_by_id(patch: ScalpPatch) -> dict[int, np.ndarray]:
    hair = patch.hair_arrays()
    if len(hair["hair_id"]) == 0:
        return {}
    return dict(zip(hair["hair_id"].tolist(), hair_emergence_mm(hair)))


def _frame_density(patch: ScalpPatch, pose: Pose, size: tuple[int, int]) -> float:
    h = scalp_to_image_homography(pose, image_size=size, focal_length_35mm=TRICHO_FOCAL_LENGTH_35MM,
                                  field_width_mm=TRICHO_FIELD_WIDTH_MM, centre_mm=patch.centre_mm)
    return len(hairs_in_frame(patch, h, size)) / (polygon_area(frame_footprint_mm(h, size)) / 100)


def generate_sample_archive(out_dir: Path, seed: int = 0, *,
                            image_size: tuple[int, int] = (1600, 1200)) -> SampleArchive:
    """Write the demo archive (photos, manifest, ground truth), deterministic by seed.

    Parameters
    ----------
    out_dir : pathlib.Path
        Destination folder (created; existing files of the same names are replaced).
    seed : int
        Seed of everything random.
    image_size : tuple of int
        Size of every photo (``(1600, 1200)`` for the product archive).

    Returns
    -------
    SampleArchive
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    master = np.random.default_rng([seed, 0])
    photos: list[SamplePhoto] = []
    truth_photos: dict[str, dict] = {}
    truth_pairs: dict[str, dict] = {}
    manifest: list[dict[str, str]] = []
    drift: list[dict[str, str]] = []

    for pi, plan in enumerate(_plans(master)):
        prng = np.random.default_rng([seed, 1, pi])
        # Scenes: two trichoscopy sites and the crown, then their month-6 state.
        sites: dict[str, tuple[ScalpPatch, ScalpPatch, object]] = {}
        poses = {v: (_random_pose(prng, "crown" if v == "vertex" else "trichoscopy"),
                     _random_pose(prng, "crown" if v == "vertex" else "trichoscopy"))
                 for v in VIEWS}
        if plan.drifted:
            poses = {v: (p[0], _drift_pose("crown" if v == "vertex" else "trichoscopy"))
                     for v, p in poses.items()}
        for si, view in enumerate(VIEWS[1:]):
            density = (plan.vertex_density_per_cm2 if view == "tricho-vertex"
                       else plan.midscalp_density_per_cm2)
            base = make_scalp_patch(np.random.default_rng([seed, 2, pi, si]), 20.0, 20.0,
                                    density, 0.18 if view == "tricho-vertex" else 0.08,
                                    hair_colour=plan.hair_colour, grey_share=plan.grey_share,
                                    melanin=plan.melanin, redness=0.3 + 0.1 * si,
                                    comb_direction_deg=float(prng.uniform(60, 120)))
            lo, hi = plan.density_change_pct
            d_base = _frame_density(base, poses[view][0], image_size)
            # Natural variation decides the in-frame change: draw follow-ups until the
            # field shows the story this patient is meant to tell (deterministic).
            for attempt in range(200):
                follow, evo = evolve_patch(
                    base, np.random.default_rng([seed, 3, pi, si, attempt]),
                    days=plan.interval_days, density_change_pct=(lo + hi) / 2,
                    width_change_um=plan.width_change_um)
                change = 100 * (_frame_density(follow, poses[view][1], image_size) / d_base - 1)
                if lo <= change <= hi:
                    break
            sites[view] = (base, follow, evo)
        head = CrownHead(thinning_severity=plan.thinning_severity, hair_colour=plan.hair_colour,
                         grey_share=plan.grey_share, skin_melanin=plan.melanin,
                         whorl_mm=(float(prng.normal(6, 3)), float(prng.normal(30, 4))),
                         whorl_clockwise=bool(pi % 2 == 0), seed=seed * 1000 + pi)
        head_follow = evolve_crown(head, np.random.default_rng([seed, 4, pi]),
                                   plan.coverage_change_pts, days=plan.interval_days)

        renders: dict[tuple[str, str], object] = {}
        for vi, visit in enumerate(VISITS):
            drifted = plan.drifted and visit == "month-6"
            visit_date = plan.baseline_date + timedelta(days=plan.interval_days * vi)
            clock = plan.baseline_clock if vi == 0 else plan.followup_clock
            start = datetime.combine(visit_date, clock) + timedelta(
                seconds=int(prng.integers(0, 50)))
            manifest.append({"patient": plan.patient, "visit": visit, "view": "",
                             "operator": plan.operators[vi], "station": plan.stations[vi],
                             "site": "", "visit_date": visit_date.isoformat()})
            for wi, view in enumerate(VIEWS):
                kind = "crown" if view == "vertex" else "trichoscopy"
                key = f"{plan.patient}/{visit}/{view}"
                rrng = np.random.default_rng([seed, 5, pi, vi, wi])
                pose = poses[view][vi]
                lighting = (_drift_lighting(kind) if drifted else _random_lighting(prng, kind))
                optics = Optics(noise_sigma=0.012 if drifted else 0.006)
                if kind == "crown":
                    r = render_crown(head if vi == 0 else head_follow, pose, lighting, optics,
                                     image_size=image_size, field_width_mm=CROWN_FIELD_WIDTH_MM,
                                     rng=rrng)
                    extra = {"coverage_pct": r.coverage_pct,
                             "whorl_px": [float(v) for v in r.whorl_px],
                             "field_width_mm": CROWN_FIELD_WIDTH_MM,
                             "focal_length_35mm": CROWN_FOCAL_LENGTH_35MM,
                             "head": asdict(r.head)}
                else:
                    patch = sites[view][vi]
                    r = render_trichoscopy(patch, pose, lighting, optics, image_size=image_size,
                                           field_width_mm=TRICHO_FIELD_WIDTH_MM,
                                           clipped=view == "tricho-vertex", rng=rrng)
                    extra = {"clipped": r.clipped, "hair_count": r.hair_count,
                             "follicular_unit_count": r.follicular_unit_count,
                             "density_per_cm2": r.density_per_cm2,
                             "field_area_cm2": r.field_area_cm2,
                             "mean_shaft_width_um": r.mean_shaft_width_um,
                             "vellus_pct": r.vellus_pct,
                             "field_width_mm": TRICHO_FIELD_WIDTH_MM,
                             "focal_length_35mm": TRICHO_FOCAL_LENGTH_35MM}
                    manifest.append({"patient": plan.patient, "visit": visit, "view": view,
                                     "operator": "", "station": "", "site": SITES[view],
                                     "visit_date": ""})
                renders[(visit, view)] = r
                captured = _aware(start + timedelta(seconds=150 * wi + int(prng.integers(0, 40)),
                                                    milliseconds=int(prng.integers(0, 1000))))
                fields = _exif(kind, plan.stations[vi], captured, drifted, image_size)
                path = write_jpeg(out_dir / plan.patient / visit / f"{view}.jpg", r.image,
                                  fields, quality=optics.jpeg_quality)
                photos.append(SamplePhoto(key=key, path=path, kind=kind))
                truth_photos[key] = {
                    "kind": kind, "file": f"{key}.jpg", "image_size": list(image_size),
                    "mm_per_px": r.mm_per_px, "scalp_to_image": _matrix(r.scalp_to_image),
                    **extra, "pose": asdict(pose), "lighting": asdict(lighting),
                    "optics": asdict(optics), "exif": fields.as_dict(),
                    "operator": plan.operators[vi], "station": plan.stations[vi]}

        for view in VIEWS:
            rb, rf = renders[("baseline", view)], renders[("month-6", view)]
            f2b = rb.scalp_to_image @ np.linalg.inv(rf.scalp_to_image)
            pair = {"followup_to_baseline": _matrix(f2b),
                    "interval_days": plan.interval_days}
            if view == "vertex":
                pair.update(_crown_pair(rb, rf, f2b))
            else:
                pair.update(_tricho_pair(sites[view], rb, rf))
            truth_pairs[f"{plan.patient}/{view}"] = pair
        if plan.drifted:
            drift = _drift_list(plan)

    _write_manifest(out_dir / "manifest.csv", manifest)
    gt = {"generator": GENERATOR, "seed": seed, "image_size": list(image_size),
          "protocol": {"interval_days": PROTOCOL_INTERVAL_DAYS,
                       "window_days": PROTOCOL_WINDOW_DAYS},
          "photos": truth_photos, "pairs": truth_pairs, "drift": drift}
    gt_path = out_dir / "ground_truth.json"
    tmp = gt_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(gt, indent=1))
    tmp.replace(gt_path)
    total = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    return SampleArchive(out_dir=out_dir, seed=seed, photos=tuple(photos),
                         manifest_path=out_dir / "manifest.csv", ground_truth_path=gt_path,
                         total_bytes=total)


def _tricho_pair(site: tuple, rb, rf) -> dict:
    base, follow, evo = site
    overlap = _overlap(rb.footprint_mm, rf.footprint_mm)
    pos_b, pos_f = _emergence_by_id(base), _emergence_by_id(follow)

    def n_in(ids, pos) -> int:
        if len(overlap) < 3 or not ids:
            return 0
        pts = np.array([pos[i] for i in ids])
        return int(points_in_poly(pts, overlap).sum())

    return {
        "overlap_area_cm2": polygon_area(overlap) / 100.0 if len(overlap) >= 3 else 0.0,
        "matched_hair_count": n_in(list(evo.matched_hair_ids), pos_b),
        "lost_hair_count": n_in(list(evo.lost_hair_ids), pos_b),
        "new_hair_count": n_in(list(evo.new_hair_ids), pos_f),
        "density_baseline_per_cm2": rb.density_per_cm2,
        "density_followup_per_cm2": rf.density_per_cm2,
        "density_change_per_cm2": rf.density_per_cm2 - rb.density_per_cm2,
        "density_change_pct": 100.0 * (rf.density_per_cm2 / rb.density_per_cm2 - 1.0),
        "mean_shaft_width_change_um": rf.mean_shaft_width_um - rb.mean_shaft_width_um,
        "patch": {"baseline_hair_count": evo.baseline_hair_count,
                  "followup_hair_count": evo.followup_hair_count,
                  "matched": len(evo.matched_hair_ids), "lost": len(evo.lost_hair_ids),
                  "new": len(evo.new_hair_ids), "density_change_pct": evo.density_change_pct,
                  "width_change_um": evo.width_change_um},
    }


def _crown_pair(rb, rf, f2b: np.ndarray) -> dict:
    h, w = rb.hair_mask.shape
    warp = lambda m: cv2.warpPerspective(m.astype(np.uint8), f2b, (w, h),  # noqa: E731
                                         flags=cv2.INTER_NEAREST).astype(bool)
    common = rb.scalp_mask & warp(rf.scalp_mask)
    cov_b = 100.0 * (rb.hair_mask & common).sum() / max(common.sum(), 1)
    cov_f = 100.0 * (warp(rf.hair_mask) & common).sum() / max(common.sum(), 1)
    return {"coverage_baseline_pct": rb.coverage_pct, "coverage_followup_pct": rf.coverage_pct,
            "coverage_change_pts": rf.coverage_pct - rb.coverage_pct,
            "coverage_change_pts_common_region": float(cov_f - cov_b),
            "common_region_px": int(common.sum())}


def _drift_list(plan: _PatientPlan) -> list[dict[str, str]]:
    crown, tricho = _drift_pose("crown"), _drift_pose("trichoscopy")
    light = _drift_lighting("crown")
    return [
        {"kind": "schedule", "detail": f"month-6 captured {plan.interval_days} days after "
         f"baseline (protocol {PROTOCOL_INTERVAL_DAYS} +- {PROTOCOL_WINDOW_DAYS})"},
        {"kind": "operator_station", "detail": f"{plan.operators[0]}/{plan.stations[0]} -> "
         f"{plan.operators[1]}/{plan.stations[1]}"},
        {"kind": "camera_body", "detail": "other BodySerialNumber on every view"},
        {"kind": "exposure_settings", "detail": "ISO 100 -> 400; crown 1/125 s -> 1/60 s, "
         "trichoscopy 1/30 s -> 1/60 s"},
        {"kind": "white_balance_mode", "detail": "WhiteBalance manual -> auto"},
        {"kind": "timestamp", "detail": "DateTime 3 days 17 min after DateTimeOriginal"},
        {"kind": "editing_software", "detail": f"Software = {LIGHTROOM}"},
        {"kind": "lighting", "detail": f"exposure {light.exposure_ev:+.1f} EV, white balance "
         f"{light.white_balance_shift_mired:+.0f} mired (warmer), gradient "
         f"{light.gradient_strength:.0%} with the right side darker"},
        {"kind": "angle", "detail": f"crown rotation {crown.rotation_deg:.0f} deg, tilt "
         f"{crown.tilt_deg:.0f} deg; trichoscopy rotation {tricho.rotation_deg:.0f} deg"},
        {"kind": "magnification", "detail": f"crown closer by {crown.scale - 1:.0%}"},
        {"kind": "position", "detail": "trichoscopy field shifted by "
         f"{np.hypot(*tricho.shift_mm):.1f} mm"},
    ]


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> None:
    cols = ["patient", "visit", "view", "operator", "station", "site", "visit_date"]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``python -m photostation.synthetic.samples OUT_DIR``."""
    ap = argparse.ArgumentParser(description="Write the synthetic sample archive.")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    archive = generate_sample_archive(args.out_dir, seed=args.seed)
    print(f"wrote {len(archive.photos)} photos, {archive.total_bytes / 1e6:.1f} MB "
          f"to {archive.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
