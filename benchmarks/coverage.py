"""Hair coverage of global views (issue 14) on renders widened to what real crowns vary in.

Each photo is a rendered crown (:func:`photostation.synthetic.render_crown`), saved as JPEG
(quality 88, as the sample archive's cameras) and measured as
``photostation measure`` measures a global view (:func:`pipelines.measure._measure_global`'s
steps: linear RGB, the scalp region, :func:`pipelines.coverage.hair_coverage`) and compared
with the renderer's truth: hair pixels in the true scalp mask.

The randomisation is wider than the other benchmarks' crowns: skin melanin 0.03-0.9
(Fitzpatrick I-VI), every hair colour of the renderer and white hair, thinning 0.1-0.95,
framing with a backdrop (260 mm field) or a crown filling the frame (110-150 mm field aimed
near the whorl), exposure +-0.5 EV and white balance +-40 mired.

**Held-out region.** Part of the randomisation is never used to set anything: photos with skin
melanin in [0.45, 0.6] *or* thinning severity in [0.5, 0.62] form the test region (drawn from
their own seed stream); the calibration region is the rest. The table reports both; targets
are read on the test region only.

Figures per region and per hair colour:

- ``error``: measured minus true coverage (points), on the region the tool found;
- ``sep. error``: the same with the *true* scalp mask given (hair/skin separation alone);
- ``region IoU``: the tool's scalp region against the true scalp mask.

**Pairs.** Each scene is also a baseline whose follow-up is the same head ~182 days later
(:func:`photostation.synthetic.evolve_crown`, coverage change -4..+4 points), written as JPEGs
with camera EXIF and compared by :func:`pipelines.compare.compare_pair` (registration, common
area, tile-bootstrap interval), as ``photostation compare`` does. The follow-up is re-aimed
by up to 2 deg and 2 %; its light changes by +-0.1 EV and +-5 mired (``natural``), or by
+-0.5 EV and +-40 mired (``light``, every other pair). Figures: |change error| and how often
the 95 % interval contains the true change (over the renderer's masks on the common area).

Run ``.venv/bin/python benchmarks/coverage.py [--quick] [--seed N] [--jobs N] [--no-pairs] [--out FILE]``
(full: 8 photos per hair colour and region, ~12 min on 2 cores; ``--quick``: 2, ~3.5 min).
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.compare import NOW, VISIT, crown_truth, normalised  # noqa: E402
from benchmarks.records import ROOT, benchmark_parser, photo_folder, write_results  # noqa: E402
from benchmarks.sessions import camera_exif, capture_times  # noqa: E402
from photostation.protocol import load_protocol  # noqa: E402
from photostation.qa.pixels import to_linear  # noqa: E402
from photostation.qa.region import scalp_region  # noqa: E402
from photostation.synthetic import CrownHead, Lighting, Pose, evolve_crown, render_crown, write_jpeg  # noqa: E402
from pipelines.compare import compare_pair, skin_rules_from  # noqa: E402
from pipelines.coverage import hair_coverage  # noqa: E402

COLOURS = ("black", "dark_brown", "brown", "auburn", "blond", "grey", "white")
HELD_OUT_MELANIN = (0.45, 0.60)
HELD_OUT_THINNING = (0.50, 0.62)
IMAGE_SIZE = (1600, 1200)


def in_held_out(scene: dict[str, Any]) -> bool:
    """True when a scene lies in the held-out test region of the randomisation."""
    m, t = scene["skin_melanin"], scene["thinning_severity"]
    return HELD_OUT_MELANIN[0] <= m <= HELD_OUT_MELANIN[1] or HELD_OUT_THINNING[0] <= t <= HELD_OUT_THINNING[1]


def draw_scene(rng: np.random.Generator, colour: str, held_out: bool) -> dict[str, Any]:
    """Random crown parameters; redrawn until they fall in (or out of) the held-out region."""
    while True:
        scene = {"hair_colour": colour, "skin_melanin": float(rng.uniform(0.03, 0.9)),
                 "skin_redness": float(rng.uniform(0.15, 0.6)),
                 "thinning_severity": float(rng.uniform(0.1, 0.95)),
                 "thinning_radius_mm": float(rng.uniform(35, 75)),
                 "whorl_mm": (float(rng.normal(6, 3)), float(rng.normal(30, 4))),
                 "whorl_clockwise": bool(rng.uniform() < 0.5), "head_seed": int(rng.integers(0, 2**31)),
                 "framing": "fills" if rng.uniform() < 0.5 else "backdrop",
                 "field_width_mm": float(rng.uniform(110, 150)),
                 "exposure_ev": float(rng.uniform(-0.5, 0.5)),
                 "white_balance_shift_mired": float(rng.uniform(-40, 40)),
                 "rotation_deg": float(rng.uniform(-20, 20))}
        if in_held_out(scene) == held_out:
            return scene


def build_cases(seed: int, per_colour: int) -> list[dict[str, Any]]:
    """``per_colour`` calibration and ``per_colour`` test photos of every hair colour."""
    cases = []
    for region, stream in (("calibration", 1), ("test", 2)):
        for ci, colour in enumerate(COLOURS):
            for i in range(per_colour):
                rng = np.random.default_rng((seed, stream, ci, i))
                cases.append({"id": f"{region}-{colour}-{i:02d}", "region": region, "index": i,
                              "scene": draw_scene(rng, colour, region == "test"), "seed": [seed, stream, ci, i]})
    return cases


def make_head(s: dict[str, Any]) -> CrownHead:
    """The scene's head (``white``: grey hair with 95 % white strands)."""
    colour, grey_share = (("grey", 0.95) if s["hair_colour"] == "white" else (s["hair_colour"], None))
    extra = {} if grey_share is None else {"grey_share": grey_share}
    return CrownHead(thinning_severity=s["thinning_severity"], thinning_radius_mm=s["thinning_radius_mm"],
                     hair_colour=colour, skin_melanin=s["skin_melanin"], skin_redness=s["skin_redness"],
                     whorl_mm=tuple(s["whorl_mm"]), whorl_clockwise=s["whorl_clockwise"], seed=s["head_seed"],
                     **extra)


def render(head: CrownHead, s: dict[str, Any], pose: Pose, lighting: Lighting, noise_seed: list[int]):
    fills = s["framing"] == "fills"
    return render_crown(head, pose, lighting, image_size=IMAGE_SIZE,
                        field_width_mm=s["field_width_mm"] if fills else 260.0,
                        centre_mm=tuple(s["whorl_mm"]) if fills else (0.0, 4.0),
                        rng=np.random.default_rng(noise_seed))


def baseline_light(s: dict[str, Any]) -> Lighting:
    return Lighting(exposure_ev=s["exposure_ev"], white_balance_shift_mired=s["white_balance_shift_mired"])


def render_case(case: dict[str, Any]):
    s = case["scene"]
    return render(make_head(s), s, Pose(rotation_deg=s["rotation_deg"]), baseline_light(s), case["seed"] + [9])


def run_pair(case: dict[str, Any], work_dir: str) -> dict[str, Any]:
    """The case's scene as a baseline, its follow-up 182 days later, through compare_pair."""
    s = case["scene"]
    rng = np.random.default_rng(case["seed"] + [5])
    head = make_head(s)
    change = float(rng.uniform(-4, 4))
    follow_head = evolve_crown(head, rng, change, days=182)
    light_change = "light" if case["index"] % 2 else "natural"
    ev, mired = (0.5, 40.0) if light_change == "light" else (0.1, 5.0)
    base_pose = Pose(rotation_deg=s["rotation_deg"])
    follow_pose = Pose(rotation_deg=s["rotation_deg"] + float(rng.uniform(-2, 2)), scale=float(1 + rng.uniform(-0.02, 0.02)))
    follow_light = Lighting(exposure_ev=s["exposure_ev"] + float(rng.uniform(-ev, ev)),
                            white_balance_shift_mired=s["white_balance_shift_mired"] + float(rng.uniform(-mired, mired)))
    rb = render(head, s, base_pose, baseline_light(s), case["seed"] + [9])
    rf = render(follow_head, s, follow_pose, follow_light, case["seed"] + [10])
    kind = type("CrownKind", (), {"family": "crown", "focal_length_35mm": 50})
    t_base, t_follow = capture_times(rng)
    folder = Path(work_dir) / case["id"]
    b = write_jpeg(folder / "baseline" / "vertex.jpg", rb.image, camera_exif(kind, t_base, IMAGE_SIZE), quality=88)
    f = write_jpeg(folder / VISIT / "vertex.jpg", rf.image, camera_exif(kind, t_follow, IMAGE_SIZE), quality=88)
    c = compare_pair(b, f, load_protocol(), mm_per_px=rb.mm_per_px, view="global", now=NOW)
    data = c.to_json()
    out = {"light_change": light_change, "comparable": data["comparable"], "flags": data["flags"],
           "measured_change": data["change"]["coverage_pct_points"],
           "ci95": data["change"]["ci95_coverage_pct_points"]}
    common = c.images.get("common")
    if common is None or common.shape != rb.image.shape[:2]:
        return out | {"truth_change": None}
    f2b = normalised(rb.scalp_to_image @ np.linalg.inv(rf.scalp_to_image))
    truth = crown_truth(rb, rf, common, f2b, (None, None))
    return out | {"truth_change": truth["change_pts"]}


def as_saved(image: np.ndarray, quality: int = 88) -> np.ndarray:
    """The image as a camera saves it: JPEG at ``quality``, decoded again."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def run_case(case: dict[str, Any], work_dir: str | None = None) -> dict[str, Any]:
    protocol = load_protocol()
    t0 = time.perf_counter()
    r = render_case(case)
    render_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    linear = to_linear(as_saved(r.image))
    region = scalp_region(linear, whole_frame=False, backdrop_texture_max=protocol.qa.region.backdrop_texture_max,
                          min_share_pct=protocol.qa.region.min_share_pct).mask
    rules = skin_rules_from(protocol.compare)
    measured = hair_coverage(linear, region, rules) if region.any() else None
    measure_s = time.perf_counter() - t0
    on_truth = hair_coverage(linear, r.scalp_mask, rules)
    union = int((region | r.scalp_mask).sum())
    return {**case, "truth_pct": float(r.coverage_pct),
            "measured_pct": None if measured is None else float(measured.coverage_pct),
            "on_true_region_pct": float(on_truth.coverage_pct),
            "region_iou": float((region & r.scalp_mask).sum()) / max(union, 1),
            "scalp_share_pct": 100.0 * float(r.scalp_mask.mean()),
            "render_s": render_s, "measure_s": measure_s,
            "pair": run_pair(case, work_dir) if work_dir else None}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    err = np.array([abs(r["measured_pct"] - r["truth_pct"]) if r["measured_pct"] is not None else np.inf
                    for r in rows])
    sep = np.array([abs(r["on_true_region_pct"] - r["truth_pct"]) for r in rows])
    signed = np.array([r["measured_pct"] - r["truth_pct"] for r in rows if r["measured_pct"] is not None])
    return {"n": len(rows), "median_abs_error": float(np.median(err)), "p95_abs_error": float(np.percentile(err, 95)),
            "max_abs_error": float(err.max()), "bias": float(np.mean(signed)) if signed.size else None,
            "sep_median": float(np.median(sep)), "sep_p95": float(np.percentile(sep, 95)),
            "region_iou_median": float(np.median([r["region_iou"] for r in rows]))}


def print_table(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    head = (f"{'region':<12}{'group':<12}{'n':>4}{'err med':>9}{'err p95':>9}{'err max':>9}{'bias':>8}"
            f"{'sep med':>9}{'sep p95':>9}{'IoU med':>9}")
    print(head)
    print("-" * len(head))
    for region in ("calibration", "test"):
        sel = [r for r in results if r["region"] == region]
        groups = [("all", sel)] + [(c, [r for r in sel if r["scene"]["hair_colour"] == c]) for c in COLOURS] + \
                 [(f, [r for r in sel if r["scene"]["framing"] == f]) for f in ("backdrop", "fills")]
        for name, rows in groups:
            if not rows:
                continue
            s = summary(rows)
            out[f"{region}/{name}"] = s
            bias = "n/a" if s["bias"] is None else f"{s['bias']:+.2f}"
            print(f"{region:<12}{name:<12}{s['n']:>4}{s['median_abs_error']:>9.2f}{s['p95_abs_error']:>9.2f}"
                  f"{s['max_abs_error']:>9.2f}{bias:>8}{s['sep_median']:>9.2f}{s['sep_p95']:>9.2f}"
                  f"{s['region_iou_median']:>9.3f}")
    return out


def pair_table(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Change error and interval coverage per region and light change."""
    out: dict[str, Any] = {}
    head = f"{'region':<12}{'light':<9}{'pairs':>6}{'compar.':>8}{'|err| med':>10}{'|err| p95':>10}{'CI holds':>9}"
    print(head)
    print("-" * len(head))
    for region in ("calibration", "test"):
        for light in ("natural", "light", "all"):
            sel = [r["pair"] for r in results if r["region"] == region and r.get("pair")
                   and (light == "all" or r["pair"]["light_change"] == light)]
            done = [p for p in sel if p["comparable"] and p["measured_change"] is not None
                    and p["truth_change"] is not None]
            if not sel:
                continue
            err = [abs(p["measured_change"] - p["truth_change"]) for p in done]
            held = [p["ci95"][0] <= p["truth_change"] <= p["ci95"][1] for p in done]
            row = {"pairs": len(sel), "comparable": len(done),
                   "median_abs_error": float(np.median(err)) if err else None,
                   "p95_abs_error": float(np.percentile(err, 95)) if err else None,
                   "ci_holds_pct": 100.0 * float(np.mean(held)) if held else None}
            out[f"{region}/{light}"] = row
            fmt = (lambda v: f"{v:10.2f}" if v is not None else f"{'n/a':>10}")
            print(f"{region:<12}{light:<9}{row['pairs']:>6}{row['comparable']:>8}{fmt(row['median_abs_error'])}"
                  f"{fmt(row['p95_abs_error'])}{fmt(row['ci_holds_pct'])[1:]}")
    return out


REAL_SET = "Intelligent_hair_analysis_system"
"""Real crown and vertex photos (``macarize/Intelligent_hair_analysis_system``, folder
``input_images``): no truth, so only invariance is measured. Not shipped (no licence)."""


def real_variants(linear: np.ndarray) -> dict[str, np.ndarray]:
    """The same photo re-exposed +-0.5 EV, white-balanced +-1500 K around 5500 K (4000 K:
    +68 mired, 7000 K: -39 mired), rotated by 90 and by 10 degrees, saved again at JPEG 75."""
    from photostation.synthetic.camera import srgb_encode, white_balance_gains

    h, w = linear.shape[:2]
    turn = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 10.0, 1.0)
    return {"+0.5 EV": np.clip(linear * 2 ** 0.5, 0, 1), "-0.5 EV": linear * 2 ** -0.5,
            "4000 K": np.clip(linear * white_balance_gains(68.0), 0, 1),
            "7000 K": np.clip(linear * white_balance_gains(-39.0), 0, 1),
            "rotated 90": np.ascontiguousarray(np.rot90(linear)),
            "rotated 10": cv2.warpAffine(linear, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
            "JPEG 75": to_linear(as_saved(srgb_encode(linear), 75))}


def global_coverage(linear: np.ndarray, protocol) -> float | None:
    """Coverage of a global view as ``photostation measure`` gives it (region, then the skin rule)."""
    region = scalp_region(linear, whole_frame=False, backdrop_texture_max=protocol.qa.region.backdrop_texture_max,
                          min_share_pct=protocol.qa.region.min_share_pct).mask
    return hair_coverage(linear, region, skin_rules_from(protocol.compare)).coverage_pct if region.any() else None


def real_invariance() -> dict[str, Any]:
    """Coverage of each real photo and of its changed copies; prints the table."""
    from benchmarks.realsets import require_set

    folder = require_set(REAL_SET) / "input_images"
    protocol = load_protocol()
    rows: dict[str, Any] = {}
    print(f"{'photo':<22}{'coverage':>9}  " + "  ".join(f"{k:>10}" for k in real_variants(np.zeros((8, 8, 3))).keys()))
    for i, path in enumerate(sorted(folder.glob("*.png"))):
        rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        linear = to_linear(rgb)
        base = global_coverage(linear, protocol)
        deltas = {name: (None if base is None or (v := global_coverage(img, protocol)) is None else v - base)
                  for name, img in real_variants(linear).items()}
        label = f"real photo {i + 1} ({rgb.shape[1]}x{rgb.shape[0]})"  # no file names in the output
        rows[label] = {"coverage_pct": base, "change_pts": deltas}
        print(f"{label:<22}{base if base is not None else float('nan'):9.1f}  "
              + "  ".join(f"{d:+10.2f}" if d is not None else f"{'n/a':>10}" for d in deltas.values()))
    worst = max((abs(d) for r in rows.values() for d in r["change_pts"].values() if d is not None), default=None)
    if worst is not None:
        within = [abs(d) <= 1.0 for r in rows.values() for d in r["change_pts"].values() if d is not None]
        print(f"\ntarget (real photos): every changed copy within 1 point: {sum(within)} of {len(within)}, "
              f"worst {worst:.2f} points {'pass' if all(within) else 'MISSED'}")
    return rows


MASK_SET = "hair-follicle-detection"
"""Grey 128x128 trichoscopy tiles with hand-made hair masks (``Jenny-Zhan/hair-follicle-detection``,
``dataset.zip`` unpacked into this folder: ``dataset/{80image,20image}`` and ``*_target``). Not
shipped (no licence)."""


def real_mask_iou() -> dict[str, Any]:
    """IoU of the close-up hair mask (:func:`pipelines.trichoscopy.hair_cover_mask`, the mask
    of long-hair coverage) with the hand-made masks. The tiles have no scale: each tile's hair
    width is taken from the tile itself (:func:`photostation.qa.skin_view.hair_line_width_px`)
    as a terminal shaft's, nothing from the labels."""
    from benchmarks.realsets import require_set
    from photostation.qa.skin_view import hair_line_width_px
    from pipelines.trichoscopy import TERMINAL_WIDTH_UM, hair_cover_mask

    folder = require_set(MASK_SET) / "dataset"
    inter = union = 0
    ious = []
    for image_path in sorted(folder.glob("*image/*.jpg")):
        target = image_path.parent.with_name(image_path.parent.name + "_target") / f"{image_path.stem}_t.jpg"
        if not target.exists():
            continue
        rgb = cv2.cvtColor(cv2.imread(str(image_path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        truth = cv2.imread(str(target), cv2.IMREAD_GRAYSCALE) < 128  # hair is dark in the masks
        width = hair_line_width_px(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)) or 6.0
        hair = hair_cover_mask(rgb, TERMINAL_WIDTH_UM / 1000.0 / width)
        i, u = int((hair & truth).sum()), int((hair | truth).sum())
        inter, union = inter + i, union + u
        ious.append(i / max(u, 1))
    out = {"tiles": len(ious), "pooled_iou": inter / max(union, 1),
           "median_iou": float(np.median(ious)) if ious else None,
           "p10_iou": float(np.percentile(ious, 10)) if ious else None}
    print(f"hair mask of close-ups against hand-made masks: {out['tiles']} tiles, IoU pooled {out['pooled_iou']:.3f}, "
          f"median {out['median_iou']:.3f}, 10th percentile {out['p10_iou']:.3f}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = benchmark_parser(__doc__.split("\n")[0], ROOT / "benchmarks" / "results" / "coverage.json",
                         quick="2 photos per colour and region (full: 8)",
                         jobs="processes that render and measure photos (default: up to 2)", keep=False)
    p.add_argument("--no-pairs", action="store_true", help="single photos only (no compare of pairs)")
    p.add_argument("--real-masks", action="store_true",
                   help=f"only the close-up hair mask's IoU with hand-made masks ($PHOTOSTATION_REALSETS/{MASK_SET})")
    p.add_argument("--real", action="store_true",
                   help=f"only the invariance on real crown photos ($PHOTOSTATION_REALSETS/{REAL_SET})")
    args = p.parse_args(argv)
    if args.real_masks:
        write_results(args.out.with_name("coverage_real_masks.json"), real_mask_iou())
        return 0
    if args.real:
        write_results(args.out.with_name("coverage_real.json"), real_invariance())
        return 0
    cases = build_cases(args.seed, 2 if args.quick else 8)
    print(f"coverage ({'quick' if args.quick else 'full'}, seed {args.seed}): {len(cases)} photos, "
          f"{args.jobs} process(es)", file=sys.stderr)
    t0 = time.perf_counter()
    with photo_folder("coverage", keep=False) as work, ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_case, cases, [None if args.no_pairs else str(work)] * len(cases)))
    print(f"rendered and measured in {time.perf_counter() - t0:.0f} s; measuring one 1600x1200 photo: median "
          f"{np.median([r['measure_s'] for r in results]):.2f} s\n")
    table = print_table(results)
    pairs = {}
    if not args.no_pairs:
        print()
        pairs = pair_table(results)
    test = table["test/all"]
    print(f"\ntargets (test region): p95 |coverage error| <= 2 points: {test['p95_abs_error']:.2f} "
          f"{'pass' if test['p95_abs_error'] <= 2 else 'MISSED'}")
    if pairs.get("test/all", {}).get("median_abs_error") is not None:
        t = pairs["test/all"]
        print(f"  median |change error| <= 0.5 point: {t['median_abs_error']:.2f} "
              f"{'pass' if t['median_abs_error'] <= 0.5 else 'MISSED'}; 95 % interval holds the true change "
              f">= 90 %: {t['ci_holds_pct']:.0f} % {'pass' if t['ci_holds_pct'] >= 90 else 'MISSED'}")
    write_results(args.out, {"benchmark": "coverage", "seed": args.seed, "summary": table, "pairs": pairs,
                             "photos": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
