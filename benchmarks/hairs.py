"""Hair benchmark: density, emergence points, shaft widths and speed of the trichoscopy
hair detector (:func:`pipelines.hairs.detect_hairs`).

Every close-up is rendered by photostation's own renderer
(:func:`photostation.synthetic.render_trichoscopy`, 1600x1200, ~6.25 um/px) from a scalp
patch of :func:`photostation.synthetic.make_scalp_patch` (15 % vellus hairs, random skin,
roll up to 20 deg; the hair colour cycles through ``COLOURS`` across the images of part 1,
dark brown elsewhere), converted to linear light and given to
``detect_hairs`` with the scale (``shaft_width_px`` = 80 um at the image's scale). Parts:

1. **Density.** For each kind (clipped phototrichogram, unclipped long hair) and density
   range (thinning 80-130, normal 130-190, dense 190-250 hairs/cm2): true and measured
   density (hairs with their emergence point in the frame over the frame's area), the
   per-image absolute error (median and maximum, %), the share of detected roots within
   one terminal shaft width (80 um) of a true emergence point, the share of true emergence
   points with a detected root that close (recall), the error of the mean shaft width (um)
   and of the vellus share (points, width < 30 um), and the detection time per image.
   The same figures per hair colour and kind (black to blond, and grey: 55 % white hairs).
   Targets: median absolute density error <= 5 % clipped, <= 10 % unclipped.
   For long hair also the **visible-root floor**: the error of a count that found every
   root that can be seen (open skin just upstream on the renderer's own hair mask, the
   detector's test, :func:`pipelines.hairs.root_visible_area`) and knew its hairs exactly,
   scaled up by the share of the frame where a root can be seen. No count from visible
   roots can do better than this sampling error.
2. **Change.** Baseline and month-6 photos of the same scalp (:func:`evolve_patch`, net
   change -10..+25 %, same pose): the density change measured from the two independent
   counts against the true change, in % of the baseline density. (The product matches
   roots one-to-one between the visits; this is the change without matching.)
   Target (for the matched comparison): median error <= 3 % of baseline density.
3. **Speed.** Detection on a 12-megapixel (4000x3000) close-up (a render scaled up) and
   on 1600x1200, on one core (``cv2.setNumThreads(1)``; the per-image times of part 1 are
   measured the same way).

Run ``.venv/bin/python benchmarks/hairs.py [--quick] [--seed N] [--out FILE] [--jobs N]``.
The numbers describe rendered images, not real clinic photos (see the README).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from scipy.spatial import cKDTree  # noqa: E402

from photostation.qa.pixels import to_linear  # noqa: E402
from photostation.synthetic import (Lighting, Optics, Pose, evolve_patch,  # noqa: E402
                                    make_scalp_patch, render_trichoscopy)
from pipelines.hairs import HairRules, detect_hairs, root_visible_area  # noqa: E402
from benchmarks.records import benchmark_parser, write_results  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "hairs.json"
RANGES = {"thinning": (80.0, 130.0), "normal": (130.0, 190.0), "dense": (190.0, 250.0)}
COLOURS = ("black", "dark_brown", "brown", "auburn", "blond", "grey")
"""Hair colours of the renderer, cycled across the density images."""
VELLUS_UM = 30.0
TERMINAL_UM = HairRules().terminal_width_um


def _scene(seed: int, density: float, colour: str = "dark_brown"):
    rng = np.random.default_rng(seed)
    patch = make_scalp_patch(rng, 20.0, 20.0, density_per_cm2=density, vellus_share=0.15, hair_colour=colour,
                             melanin=float(rng.uniform(0.1, 0.5)), redness=float(rng.uniform(0.1, 0.5)))
    pose = Pose(rotation_deg=float(rng.uniform(-20, 20)))
    return patch, pose, rng


def _measure(render, clipped: bool) -> dict[str, Any]:
    """Detect on one render and compare with its truth."""
    width_px = TERMINAL_UM / (render.mm_per_px * 1000.0)
    linear = to_linear(render.image)
    t0 = time.perf_counter()
    det = detect_hairs(linear, shaft_width_px=width_px, clipped=clipped)
    seconds = time.perf_counter() - t0
    truth_density = render.density_per_cm2
    density = det.count / render.field_area_cm2
    roots, em = det.roots_px, render.emergence_px
    located = recall = float("nan")
    if len(roots) and len(em):
        d_root, _ = cKDTree(em).query(roots)
        located = float(np.mean(d_root <= width_px))
        d_true, _ = cKDTree(roots).query(em)
        recall = float(np.mean(d_true <= width_px))
    elif len(em):
        recall = 0.0
    um = det.width_px * render.mm_per_px * 1000.0
    m = det.multiplicity.astype(float)
    mean_um = vellus_pct = float("nan")
    if m.sum() > 0:
        finite = np.isfinite(um)
        fill = np.where(finite, um, np.nanmedian(um) if finite.any() else TERMINAL_UM)
        mean_um = float(np.sum(fill * m) / m.sum())
        vellus_pct = float(100.0 * np.sum((fill < VELLUS_UM) * m) / m.sum())
    return dict(truth_density=float(truth_density), density=float(density),
                error_pct=float(100.0 * (density - truth_density) / truth_density),
                truth_count=int(render.hair_count), count=int(det.count), roots=int(len(roots)),
                located=located, recall=recall, kind_detected=bool(det.clipped),
                width_um=mean_um, truth_width_um=float(render.mean_shaft_width_um),
                width_error_um=float(mean_um - render.mean_shaft_width_um),
                vellus_pct=vellus_pct, truth_vellus_pct=float(render.vellus_pct),
                vellus_error_pct=float(vellus_pct - render.vellus_pct), seconds=float(seconds))


def visible_root_floor_pct(render) -> float:
    """Error (%) of the density from the roots that can be seen, found perfectly.

    Every hair whose emergence point passes the detector's visibility test on the
    renderer's exact hair mask counts; the count is scaled by the frame over the area where
    a root passes that test. The downstream direction at each pixel is that of the nearest
    true hair (emergence point to visible end), smoothed over ~4 shaft widths.
    """
    from scipy.interpolate import NearestNDInterpolator
    em, tip = render.emergence_px, render.tip_px
    if len(em) < 2:
        return float("nan")
    width_px = TERMINAL_UM / (render.mm_per_px * 1000.0)
    h, w = render.hair_mask.shape
    d = tip - em
    yy, xx = np.mgrid[0:h, 0:w]
    points = np.column_stack([xx.ravel(), yy.ravel()])
    unit = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    field = NearestNDInterpolator(em, unit)(points).reshape(h, w, 2).astype(np.float32)
    field = cv2.GaussianBlur(field, (0, 0), 4.0 * width_px)
    downstream = np.arctan2(field[..., 1], field[..., 0])
    seen = root_visible_area(render.hair_mask, downstream, width_px)
    p = np.round(em).astype(int)
    inside = (p[:, 0] >= 0) & (p[:, 1] >= 0) & (p[:, 0] < w) & (p[:, 1] < h)
    visible = int(seen[p[inside, 1], p[inside, 0]].sum())
    share = float(seen.mean())
    if share <= 0 or render.hair_count == 0:
        return float("nan")
    return float(100.0 * (visible / share - render.hair_count) / render.hair_count)


def _one_core() -> None:
    """Time detection on one core: OpenCV would otherwise use every core for some filters."""
    cv2.setNumThreads(1)
    warnings.filterwarnings("ignore")


def _density_case(args: tuple[str, str, int, float, str]) -> dict[str, Any]:
    kind, band, seed, density, colour = args
    _one_core()
    patch, pose, _ = _scene(seed, density, colour)
    render = render_trichoscopy(patch, pose, Lighting(), Optics(), image_size=(1600, 1200),
                                clipped=kind == "clipped", rng=seed)
    out = _measure(render, kind == "clipped")
    out["floor_error_pct"] = float("nan") if kind == "clipped" else visible_root_floor_pct(render)
    # The kind the detector would find on its own (clipped=None).
    auto = detect_hairs(to_linear(render.image), shaft_width_px=TERMINAL_UM / (render.mm_per_px * 1000.0))
    out.update(kind=kind, band=band, seed=seed, colour=colour, auto_kind_ok=bool(auto.clipped == (kind == "clipped")))
    return out


def _change_case(args: tuple[str, int, float, float]) -> dict[str, Any]:
    kind, seed, density, change = args
    _one_core()
    patch, pose, rng = _scene(seed, density)
    follow, truth = evolve_patch(patch, rng, days=182.0, density_change_pct=change)
    clipped = kind == "clipped"
    base = render_trichoscopy(patch, pose, image_size=(1600, 1200), clipped=clipped, rng=seed)
    foll = render_trichoscopy(follow, pose, image_size=(1600, 1200), clipped=clipped, rng=seed + 1)
    mb, mf = _measure(base, clipped), _measure(foll, clipped)
    true_change = 100.0 * (foll.density_per_cm2 - base.density_per_cm2) / base.density_per_cm2
    measured = 100.0 * (mf["density"] - mb["density"]) / mb["density"] if mb["density"] > 0 else float("nan")
    return dict(kind=kind, seed=seed, true_change_pct=float(true_change), measured_change_pct=float(measured),
                error_pct_of_baseline=float(measured - true_change))


def _speed(seed: int) -> dict[str, float]:
    _one_core()
    patch, pose, _ = _scene(seed, 180.0)
    render = render_trichoscopy(patch, pose, image_size=(1600, 1200), clipped=True, rng=seed)
    small = to_linear(render.image)
    big = cv2.resize(render.image, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    big_linear = to_linear(big)
    width = TERMINAL_UM / (render.mm_per_px * 1000.0)
    out = {}
    for name, image, w in (("1600x1200", small, width), ("4000x3000", big_linear, width * 2.5)):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            detect_hairs(image, shaft_width_px=w, clipped=True)
            times.append(time.perf_counter() - t0)
        out[f"clipped_{name}_s"] = float(min(times))
    unc = render_trichoscopy(patch, pose, image_size=(1600, 1200), clipped=False, rng=seed)
    t0 = time.perf_counter()
    detect_hairs(to_linear(unc.image), shaft_width_px=width, clipped=False)
    out["unclipped_1600x1200_s"] = float(time.perf_counter() - t0)
    t0 = time.perf_counter()
    detect_hairs(small, shaft_width_px=None, clipped=None)
    out["clipped_1600x1200_no_scale_auto_kind_s"] = float(time.perf_counter() - t0)
    return out


def _nanmedian_abs(values: list[float]) -> float:
    v = np.abs(np.array(values, float))
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else float("nan")


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    err = np.array([r["error_pct"] for r in rows])
    return dict(n=len(rows), truth_density=float(np.mean([r["truth_density"] for r in rows])),
                density=float(np.mean([r["density"] for r in rows])),
                median_abs_error_pct=float(np.median(np.abs(err))), max_abs_error_pct=float(np.max(np.abs(err))),
                mean_error_pct=float(np.mean(err)),
                located_pct=float(100 * np.nanmean([r["located"] for r in rows])),
                recall_pct=float(100 * np.nanmean([r["recall"] for r in rows])),
                width_error_um=float(np.nanmean([r["width_error_um"] for r in rows])),
                vellus_error_pct=float(np.nanmean([r["vellus_error_pct"] for r in rows])),
                auto_kind_ok_pct=float(100 * np.mean([r["auto_kind_ok"] for r in rows])),
                floor_median_abs_error_pct=_nanmedian_abs([r.get("floor_error_pct", float("nan")) for r in rows]),
                seconds=float(np.mean([r["seconds"] for r in rows])))


def _print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = benchmark_parser(__doc__.split("\n\n")[0], DEFAULT_OUT, quick="fewer photos (about 1-2 min)",
                         jobs="worker processes (default: up to 2; each detection runs on one core)", keep=False)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    per_band = 3 if args.quick else 8
    pairs = 3 if args.quick else 8
    rng = np.random.default_rng(args.seed)
    cases = []
    for kind in ("clipped", "unclipped"):
        for i, (band, (lo, hi)) in enumerate((b, r) for b, r in RANGES.items() for _ in range(per_band)):
            cases.append((kind, band, int(rng.integers(1, 2**31 - 1)), float(rng.uniform(lo, hi)),
                          COLOURS[i % len(COLOURS)]))
    changes = [(kind, int(rng.integers(1, 2**31 - 1)), float(rng.uniform(100, 230)), float(rng.uniform(-10, 25)))
               for kind in ("clipped", "unclipped") for _ in range(pairs)]
    t_start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(_density_case, cases))
        change_rows = list(pool.map(_change_case, changes))
    speed = _speed(int(rng.integers(1, 2**31 - 1)))

    summary: dict[str, Any] = {}
    table = []
    for kind in ("clipped", "unclipped"):
        for band in list(RANGES) + ["all"]:
            sel = [r for r in rows if r["kind"] == kind and (band == "all" or r["band"] == band)]
            s = _summary(sel)
            summary[f"{kind}/{band}"] = s
            table.append([kind, band, str(s["n"]), f"{s['truth_density']:.0f}", f"{s['density']:.0f}",
                          f"{s['median_abs_error_pct']:.1f}", f"{s['max_abs_error_pct']:.1f}",
                          f"{s['mean_error_pct']:+.1f}", f"{s['located_pct']:.0f}", f"{s['recall_pct']:.0f}",
                          f"{s['width_error_um']:+.1f}", f"{s['vellus_error_pct']:+.1f}",
                          f"{s['auto_kind_ok_pct']:.0f}", f"{s['floor_median_abs_error_pct']:.1f}",
                          f"{s['seconds']:.2f}"])
    _print_table("Density by kind and range (per image; density in hairs/cm2)",
                 ["kind", "range", "n", "truth", "measured", "med|err|%", "max|err|%", "bias%", "located%",
                  "recall%", "width err um", "vellus err pts", "kind ok%", "floor med|err|%", "s/image"], table)
    colour_table = []
    for kind in ("clipped", "unclipped"):
        for colour in COLOURS:
            sel = [r for r in rows if r["kind"] == kind and r["colour"] == colour]
            if not sel:
                continue
            s = _summary(sel)
            summary[f"{kind}/colour/{colour}"] = s
            colour_table.append([kind, colour, str(s["n"]), f"{s['truth_density']:.0f}", f"{s['density']:.0f}",
                                 f"{s['median_abs_error_pct']:.1f}", f"{s['max_abs_error_pct']:.1f}",
                                 f"{s['mean_error_pct']:+.1f}", f"{s['located_pct']:.0f}", f"{s['recall_pct']:.0f}",
                                 f"{s['width_error_um']:+.1f}", f"{s['auto_kind_ok_pct']:.0f}",
                                 f"{s['floor_median_abs_error_pct']:.1f}"])
    _print_table("Density by kind and hair colour (per image; density in hairs/cm2)",
                 ["kind", "colour", "n", "truth", "measured", "med|err|%", "max|err|%", "bias%", "located%",
                  "recall%", "width err um", "kind ok%", "floor med|err|%"], colour_table)
    change_table = []
    change_summary = {}
    for kind in ("clipped", "unclipped"):
        e = np.array([r["error_pct_of_baseline"] for r in change_rows if r["kind"] == kind])
        change_summary[kind] = dict(n=len(e), median_abs_error_pct=float(np.median(np.abs(e))),
                                    max_abs_error_pct=float(np.max(np.abs(e))))
        change_table.append([kind, str(len(e)), f"{np.median(np.abs(e)):.1f}", f"{np.max(np.abs(e)):.1f}"])
    _print_table("Density change from two independent counts (error in % of baseline density)",
                 ["kind", "pairs", "med|err|%", "max|err|%"], change_table)
    _print_table("Speed (one process, seconds per detection)", ["image", "s"],
                 [[k, f"{v:.2f}"] for k, v in speed.items()])
    targets = [
        dict(name="clipped median |density error| <= 5 %", value=summary["clipped/all"]["median_abs_error_pct"],
             ok=summary["clipped/all"]["median_abs_error_pct"] <= 5.0),
        dict(name="unclipped median |density error| <= 10 %", value=summary["unclipped/all"]["median_abs_error_pct"],
             ok=summary["unclipped/all"]["median_abs_error_pct"] <= 10.0),
        dict(name="unclipped: floor of a count from the visible roots (not a target)",
             value=summary["unclipped/all"]["floor_median_abs_error_pct"], ok=None),
        dict(name="detection of a 1600x1200 image < 1 s", value=speed["clipped_1600x1200_s"],
             ok=speed["clipped_1600x1200_s"] < 1.0),
    ]
    print("\nTargets")
    for t in targets:
        word = "    " if t["ok"] is None else "ok  " if t["ok"] else "MISS"
        print(f"  {word} {t['name']}: {t['value']:.2f}")
    print(f"\n{len(rows) + 2 * len(change_rows)} renders in {time.perf_counter() - t_start:.0f} s")
    data = dict(benchmark="hairs", mode="quick" if args.quick else "full", seed=args.seed,
                image_size=[1600, 1200], ranges=RANGES, colours=list(COLOURS), summary=summary, change=change_summary, speed=speed,
                targets=targets, images=rows, change_pairs=change_rows)
    write_results(args.out, data)
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
