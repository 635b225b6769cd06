"""Calibration benchmark: colour card detection and colour correction, scale from the PS-1
card, grey neutrality, flat-field, and how bad input is reported.

Every photo is rendered by photostation's own renderer (:mod:`photostation.synthetic.chart`)
and calibrated with :func:`photostation.calibrate.calibrate_photo`, the library call behind
``photostation calibrate PHOTO --json``. Parts:

1. **Colour.** An X-Rite ColorChecker Classic under CIE illuminants A, D50, D65 and FL2,
   seen through a spectral camera model (Nikon 5100 sensitivities, the camera's fixed
   daylight white balance, a camera matrix fitted under D65), with noise, at a random
   pose (roll 0-360 deg, tilt up to 25 deg, chart 25-50 % of the frame width) over a
   rendered crown photo or a grey backdrop. Per illuminant: detection rate, and CIEDE2000
   of the 24 patches against the library's reference before and after correction, for
   every fitting method the library offers (``calibration.ccm.METHODS``: root_polynomial,
   least_squares, opencv; the protocol's default first). The ΔE is
   measured by this script: the photo is decoded, corrected with the reported matrix
   (:func:`photostation.calibrate.correct_linear`), and each patch is averaged over its
   central half at the renderer's true patch position; it is cross-checked against the
   report's ``delta_e00.after_mean``. Target: mean ΔE00 after correction <= 2.0 per
   illuminant and overall; every chart found.
2. **Grey neutrality.** The corrected grey patches (same measurements): max over the six
   neutrals of ``(max - min) / mean`` of linear RGB, and the same relative to the
   reference greys (which are not neutral themselves). Target: <= 1 %.
3. **Scale.** The PS-1 card at 30 deg tilt, random roll and tilt axis, 28/50/85 mm
   equivalent lenses (written to EXIF), 4-8 px/mm, saved as JPEG. Target: ``mm_per_px``
   within 1 % of the renderer's local scale at the card centre; the reported ``tilt_deg``
   is compared with the truth.
4. **Flat-field.** A uniform grey target under vignetting and a gradient:
   :func:`photostation.calibrate.flat_field_from_photo` against the true illumination
   field, and the unevenness left after applying it to a second shot.
5. **Bad input.** Chart partly out of frame, overexposed patches, no card (with and
   without a station profile to fall back to): what the library reported.

Run ``.venv/bin/python benchmarks/calibration.py [--quick] [--seed N] [--out FILE]``.
The numbers describe rendered images, not real clinic photos (see the README).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from calibration.reference import colorchecker24  # noqa: E402
from benchmarks.records import benchmark_parser, photo_folder, write_results  # noqa: E402
from photostation.protocol import load_protocol  # noqa: E402
from calibration.project_card import CARD_HEIGHT_MM, CARD_WIDTH_MM  # noqa: E402
from photostation.synthetic.camera import Lighting, Optics, Pose, local_px_per_mm, srgb_decode  # noqa: E402
from photostation.synthetic.chart import (ILLUMINANTS, PATCH_MM, chart_patch_centres_mm,  # noqa: E402
                                          render_colorchecker_scene, render_grey_target,
                                          render_project_card_scene)
from photostation.synthetic.crown import CrownHead, render_crown  # noqa: E402
from photostation.synthetic.exif_writer import ExifFields, write_jpeg  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "calibration.json"
IMAGE_SIZE = (1600, 1200)
try:  # every fitting method the library offers, its default first
    from calibration.ccm import METHODS as _LIBRARY_METHODS
except ImportError:  # pragma: no cover - older library
    _LIBRARY_METHODS = ("least_squares", "opencv")
_DEFAULT = getattr(load_protocol().calibration, "ccm_method", _LIBRARY_METHODS[0])
METHODS = (_DEFAULT,) + tuple(m for m in _LIBRARY_METHODS if m != _DEFAULT)
DEFAULT_METHOD = METHODS[0]


def reference_chart():
    """The ColorChecker reference the protocol names (the library's default otherwise)."""
    name = getattr(load_protocol().calibration, "colorchecker_reference", None)
    return colorchecker24(name) if name else colorchecker24()
NEUTRALS = tuple(range(18, 24))
PATCH_SAMPLE_FRAC = 0.5      # central share of each patch that is averaged (as the library's patch_shrink)
PATCH_SAMPLES = 15           # per axis
CARD_TILT_DEG = 30.0
LENSES_35MM = (28, 50, 85)
CAPTURED = dt.datetime(2026, 3, 2, 10, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))

CORNER_TOLERANCE_PX = 50.0   # a reported chart whose corners are further off is counted as not found
TARGET_DELTA_E = 2.0
TARGET_DETECTION_PCT = 100.0
TARGET_SCALE_ERROR_PCT = 1.0
TARGET_NEUTRAL_PCT = 1.0

COUNTS = {
    "full": {"colour_per_illuminant": 25, "babelcolor_per_illuminant": 6, "scale": 30, "flat": 8, "partial": 8,
             "overexposed": 6, "no_card": 2},
    "quick": {"colour_per_illuminant": 3, "babelcolor_per_illuminant": 1, "scale": 4, "flat": 2, "partial": 2,
              "overexposed": 2, "no_card": 1},
}


def _colour():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    return colour


# ----------------------------------------------------------------------------- cases

@dataclass(frozen=True)
class ColourCase:
    """One ColorChecker photo."""

    kind: str            # "colour", "partial" or "overexposed"
    illuminant: str
    seed: int
    rotation_deg: float
    tilt_deg: float
    tilt_axis_deg: float
    chart_width_frac: float
    background: str
    shift_mm: tuple[float, float] = (0.0, 0.0)
    exposure_ev: float = 0.0
    white_balance: str = "daylight"
    spectra: str = "reference"
    severity: str = ""   # partial cases: "light" (about one column or row cut) or "heavy"


@dataclass(frozen=True)
class ScaleCase:
    """One PS-1 card photo at a tilt."""

    seed: int
    rotation_deg: float
    tilt_axis_deg: float
    focal_length_35mm: int
    px_per_mm: float
    background: str
    gradient_strength: float
    gradient_direction_deg: float


@dataclass(frozen=True)
class FlatCase:
    """One grey-target pair (profile shot and test shot) under the same light."""

    seed: int
    vignetting: float
    gradient_strength: float
    gradient_direction_deg: float


def build_colour_cases(rng: np.random.Generator, per_illuminant: int, spectra: str) -> list[ColourCase]:
    cases = []
    for illuminant in ILLUMINANTS:
        for k in range(per_illuminant):
            cases.append(ColourCase(
                "colour", illuminant, int(rng.integers(2**31 - 1)), float(rng.uniform(0, 360)),
                float(rng.uniform(0, 25)), float(rng.uniform(0, 180)), float(rng.uniform(0.25, 0.5)),
                "scalp" if k % 2 == 0 else "grey", spectra=spectra))
    return cases


def build_bad_cases(rng: np.random.Generator, counts: dict[str, int]) -> list[ColourCase]:
    cases = []
    # Part of the chart out of frame: a large chart, the aim moved towards one side so one
    # or two columns (or the top/bottom row) leave the frame.
    directions = [(1, 0), (-1, 0), (0, 1), (0, -1)]
    for k in range(counts["partial"]):
        dx, dy = directions[k % 4]
        heavy = (k // 4) % 2 == 1
        # At 60 % of the frame width a chart millimetre is 3.44 px: the first column starts
        # leaving the frame at a 103 mm shift and is out at 143 mm, the second at 187 mm; the
        # first row starts at 88 mm and is out at 128 mm, the second row at 172 mm.
        if dx:
            amount = float(rng.uniform(150, 175)) if heavy else float(rng.uniform(110, 140))
        else:
            amount = float(rng.uniform(135, 150)) if heavy else float(rng.uniform(95, 125))
        cases.append(ColourCase("partial", ILLUMINANTS[k % 4], int(rng.integers(2**31 - 1)),
                                float(rng.uniform(-8, 8)), float(rng.uniform(0, 10)), float(rng.uniform(0, 180)),
                                0.6, "scalp" if k % 2 == 0 else "grey", (dx * amount, dy * amount),
                                severity="heavy" if heavy else "light"))
    for k in range(counts["overexposed"]):
        cases.append(ColourCase("overexposed", ILLUMINANTS[(k + 2) % 4], int(rng.integers(2**31 - 1)),
                                float(rng.uniform(0, 360)), float(rng.uniform(0, 15)), float(rng.uniform(0, 180)),
                                0.4, "grey" if k % 2 == 0 else "scalp", exposure_ev=float(rng.uniform(0.8, 1.4))))
    return cases


def build_scale_cases(rng: np.random.Generator, n: int) -> list[ScaleCase]:
    return [ScaleCase(int(rng.integers(2**31 - 1)), float(rng.uniform(0, 360)), float(rng.uniform(0, 180)),
                      LENSES_35MM[k % len(LENSES_35MM)], float(rng.uniform(4.0, 8.0)),
                      "scalp" if k % 2 == 0 else "grey", float(rng.uniform(0.0, 0.3)), float(rng.uniform(0, 360)))
            for k in range(n)]


def build_flat_cases(rng: np.random.Generator, n: int) -> list[FlatCase]:
    return [FlatCase(int(rng.integers(2**31 - 1)), float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.0, 0.5)),
                     float(rng.uniform(0, 360))) for _ in range(n)]


# ----------------------------------------------------------------------- measurement

def sample_patches(linear: np.ndarray, chart_to_image: np.ndarray) -> np.ndarray:
    """Mean linear RGB over the central part of each patch at its true position."""
    half = PATCH_SAMPLE_FRAC * PATCH_MM / 2.0
    offs = np.linspace(-half, half, PATCH_SAMPLES)
    ox, oy = np.meshgrid(offs, offs)
    pts_mm = chart_patch_centres_mm()[:, None, :] + np.stack([ox.ravel(), oy.ravel()], -1)[None]
    pts = cv2.perspectiveTransform(pts_mm.reshape(-1, 1, 2), chart_to_image).reshape(24, -1, 2)
    out = np.full((24, 3), np.nan)
    h, w = linear.shape[:2]
    for i, p in enumerate(pts):
        if (p[:, 0] < 0).any() or (p[:, 1] < 0).any() or (p[:, 0] > w - 1).any() or (p[:, 1] > h - 1).any():
            continue
        mx = p[:, 0].astype(np.float32).reshape(1, -1)
        my = p[:, 1].astype(np.float32).reshape(1, -1)
        values = cv2.remap(linear.astype(np.float32), mx, my, cv2.INTER_LINEAR)
        out[i] = values.reshape(-1, 3).mean(0)
    return out


def lab_d50(linear: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D50) of linear sRGB, Bradford-adapted (the reference's convention)."""
    colour = _colour()
    srgb = colour.RGB_COLOURSPACES["sRGB"]
    d50 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D50"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xyz = colour.RGB_to_XYZ(np.asarray(linear, float), srgb, illuminant=d50,
                                chromatic_adaptation_transform="Bradford", apply_cctf_decoding=False)
        return colour.XYZ_to_Lab(xyz, d50)


def delta_e00(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(_colour().delta_E(lab_a, lab_b, method="CIE 2000"), float)


def apply_ccm(linear: np.ndarray, ccm: Any, tone_curve: Any = None) -> np.ndarray:
    """The library's own correction (tone curve, then matrix) when available, else the
    documented matrix product."""
    try:
        from photostation.calibrate import correct_linear
        return np.asarray(correct_linear(linear, ccm=np.asarray(ccm, float), flat_field=None, tone_curve=tone_curve),
                          np.float32)
    except ImportError:  # pragma: no cover - older library
        m = np.asarray(ccm, float)
        out = linear @ m[:, :3].T + (m[:, 3] if m.shape[1] == 4 else 0.0)
        return np.clip(out, 0.0, 1.0).astype(np.float32)


def neutral_spreads(rgb: np.ndarray, reference: np.ndarray) -> tuple[list[float | None], list[float | None]]:
    """Per neutral: (max-min)/mean of RGB in %, and the same for RGB / reference RGB."""
    plain, relative = [], []
    for i in NEUTRALS:
        v = rgb[i]
        if not np.all(np.isfinite(v)) or v.mean() <= 0:
            plain.append(None)
            relative.append(None)
            continue
        plain.append(float(100 * np.ptp(v) / v.mean()))
        r = v / reference[i]
        relative.append(float(100 * np.ptp(r) / r.mean()))
    return plain, relative


def corner_error_px(reported: Any, truth_outlines: dict[str, np.ndarray]) -> dict[str, Any]:
    """Mean distance of reported corners to the nearest truth corner of the closest outline,
    and whether the first reported corner is the chart's top-left (orientation)."""
    if reported is None:
        return {"error_px": None, "outline": None, "orientation_ok": None}
    rep = np.asarray(reported, float).reshape(4, 2)
    best = None
    for name, outline in truth_outlines.items():
        d = np.linalg.norm(rep[:, None] - outline[None], axis=2)
        err = float(d.min(1).mean())
        if best is None or err < best[0]:
            best = (err, name, int(d[0].argmin()) == 0)
    return {"error_px": round(best[0], 2), "outline": best[1], "orientation_ok": best[2]}


def calibrate(path: Path, method: str, **kw: Any) -> tuple[Any, dict[str, Any], float]:
    from photostation.calibrate import calibrate_photo

    t0 = time.perf_counter()
    report = calibrate_photo(path, load_protocol(), ccm_method=method, **kw)
    return report, report.to_json(), time.perf_counter() - t0


def _round(v: Any, d: int = 3) -> Any:
    if v is None:
        return None
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_round(x, d) for x in v]
    return None if not np.isfinite(v) else round(float(v), d)


# ------------------------------------------------------------------------ workers

def render_colour(case: ColourCase):
    pose = Pose(rotation_deg=case.rotation_deg, tilt_deg=case.tilt_deg, tilt_axis_deg=case.tilt_axis_deg,
                shift_mm=case.shift_mm)
    return render_colorchecker_scene(case.illuminant, image_size=IMAGE_SIZE, chart_width_frac=case.chart_width_frac,
                                     pose=pose, white_balance=case.white_balance, noise_sigma=0.004,
                                     background=case.background, rng=case.seed, exposure_ev=case.exposure_ev,
                                     spectra=case.spectra)


def run_colour_case(case: ColourCase, work_dir: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    render = render_colour(case)
    render_s = time.perf_counter() - t0
    path = Path(work_dir) / f"{case.kind}-{case.illuminant}-{case.seed}.png"
    Image.fromarray(render.image).save(path)
    linear = srgb_decode(render.image).astype(np.float32)
    ref = reference_chart()
    ref_lab, ref_linear = ref.lab_d50, ref.linear_srgb
    before = sample_patches(linear, render.chart_to_image)
    usable = ~np.isnan(before[:, 0]) & ~render.patch_overexposed
    de_before = delta_e00(lab_d50(np.clip(before, 0, 1)), ref_lab)
    result: dict[str, Any] = {
        "case": asdict(case), "render_s": round(render_s, 3), "cct_k_truth": round(render.cct_k, 1),
        # Patches whose central half (the area that is read) leaves the frame, and those only
        # partly cut (their centre can still be read).
        "truth_patches_outside": [int(i) for i in np.flatnonzero(np.isnan(before[:, 0]))],
        "truth_patches_partly_outside": [int(i) for i in np.flatnonzero(~render.patch_visible & ~np.isnan(before[:, 0]))],
        "truth_patches_overexposed": [int(i) for i in np.flatnonzero(render.patch_overexposed)],
        "delta_e_before_bench": _round(np.nanmean(de_before[usable]) if usable.any() else None),
        "methods": {}}
    outlines = {"patch_grid": render.grid_corners_px, "card": render.corners_px}
    for method in METHODS:
        report, data, calib_s = calibrate(path, method)
        entry: dict[str, Any] = {"json": {k: data.get(k) for k in (
            "card", "delta_e00", "ccm", "mm_per_px", "illuminant_cct_k", "tilt_deg", "excluded_patches", "flags",
            "correction", "method", "neutral_spread_pct", "verdict")}, "calibrate_s": round(calib_s, 3)}
        entry["found"] = (data.get("card") or {}).get("type") is not None
        entry["corners"] = corner_error_px((data.get("card") or {}).get("corners"), outlines)
        # Found where the chart is (a detection elsewhere, e.g. a degenerate all-zero box, is a miss).
        entry["found_correct"] = entry["found"] and (entry["corners"]["error_px"] or 0) <= CORNER_TOLERANCE_PX
        ccm = getattr(report, "ccm", None)
        if ccm is None:
            ccm = data.get("ccm")
        if ccm is not None:
            corrected = apply_ccm(linear, ccm, getattr(report, "tone_curve", None))
            after = sample_patches(corrected, render.chart_to_image)
            excluded = {int(e["index"]) for e in data.get("excluded_patches") or []}
            keep = usable.copy()
            keep[list(excluded)] = False
            de_after = delta_e00(lab_d50(np.clip(np.nan_to_num(after), 0, 1)), ref_lab)
            plain, relative = neutral_spreads(after, ref_linear)
            # The library's rule: only greys recorded with every channel >= 5 % of full scale.
            bright = [bool(np.all(np.nan_to_num(before[i]) >= 0.05)) for i in NEUTRALS]
            relative_bright = [v if ok else None for v, ok in zip(relative, bright)]
            entry.update({
                "delta_e_after_bench": {"mean": _round(de_after[keep].mean()) if keep.any() else None,
                                        "max": _round(de_after[keep].max()) if keep.any() else None,
                                        "per_patch": _round(de_after)},
                "delta_e_before_bench_kept": _round(de_before[keep].mean()) if keep.any() else None,
                "neutral_spread_pct": _round(plain), "neutral_spread_vs_reference_pct": _round(relative),
                "neutral_spread_vs_reference_bright_pct": _round(relative_bright),
                "corrected_neutrals": _round(after[list(NEUTRALS)], 4)})
        result["methods"][method] = entry
    return result


def run_scale_case(case: ScaleCase, work_dir: str) -> dict[str, Any]:
    pose = Pose(rotation_deg=case.rotation_deg, tilt_deg=CARD_TILT_DEG, tilt_axis_deg=case.tilt_axis_deg)
    lighting = Lighting(gradient_strength=case.gradient_strength, gradient_direction_deg=case.gradient_direction_deg)
    t0 = time.perf_counter()
    render = render_project_card_scene(image_size=IMAGE_SIZE, px_per_mm_at_card=case.px_per_mm, pose=pose,
                                       focal_length_35mm=case.focal_length_35mm, lighting=lighting,
                                       background=case.background, rng=case.seed)
    render_s = time.perf_counter() - t0
    path = Path(work_dir) / f"card-{case.seed}.jpg"
    fields = ExifFields(make="Canon", model="Canon EOS R8", focal_length_mm=float(case.focal_length_35mm),
                        focal_length_35mm=case.focal_length_35mm, white_balance="manual", captured_at=CAPTURED)
    write_jpeg(path, render.image, fields, quality=95)
    report, data, calib_s = calibrate(path, DEFAULT_METHOD)
    mm = data.get("mm_per_px")
    tilt = data.get("tilt_deg")
    truth = render.mm_per_px_at_card_centre
    # Diagnostic: the library's own card homography evaluated at the true card centre
    # (separates the homography's accuracy from where the scale is evaluated).
    lib_h = getattr(getattr(report, "card", None), "card_to_image", None)
    at_centre = None
    if lib_h is not None:
        centre = np.array([[CARD_WIDTH_MM / 2.0, CARD_HEIGHT_MM / 2.0]])
        at_centre = float(1.0 / local_px_per_mm(np.asarray(lib_h, float), centre)[0])
    # The isotropic truth (sqrt of the Jacobian) is what the target is defined on; the
    # along-axis scales bracket it and tell which definition a result follows.
    h = render.card_to_image
    return {"case": asdict(case), "render_s": round(render_s, 3), "calibrate_s": round(calib_s, 3),
            "card_type": (data.get("card") or {}).get("type"), "mm_per_px": mm, "mm_per_px_truth": truth,
            "scale_error_pct": None if mm is None else 100.0 * (mm - truth) / truth,
            "library_homography_error_at_centre_pct": None if at_centre is None else 100.0 * (at_centre - truth) / truth,
            "fronto_parallel_mm_per_px": truth * np.sqrt(np.cos(np.radians(CARD_TILT_DEG))),
            "tilt_deg": tilt, "tilt_deg_truth": render.tilt_deg,
            "tilt_error_deg": None if tilt is None else tilt - render.tilt_deg,
            "homography_scale_check": float(np.sqrt(abs(np.linalg.det(h[:2, :2])))),
            "flags": data.get("flags"), "verdict": data.get("verdict")}


def run_flat_case(case: FlatCase, work_dir: str) -> dict[str, Any]:
    from calibration.flatfield import apply_flat_field
    from photostation.calibrate import flat_field_from_photo

    lighting = Lighting(vignetting=case.vignetting, gradient_strength=case.gradient_strength,
                        gradient_direction_deg=case.gradient_direction_deg)
    optics = Optics(blur_sigma_px=0.6, noise_sigma=0.004)
    profile_shot = render_grey_target(image_size=IMAGE_SIZE, lighting=lighting, optics=optics, rng=case.seed)
    path = Path(work_dir) / f"flat-{case.seed}.png"
    Image.fromarray(profile_shot.image).save(path)
    try:
        flat = flat_field_from_photo(path, load_protocol())
    except Exception as exc:  # the library refuses too uneven targets
        return {"case": asdict(case), "error": f"{type(exc).__name__}: {exc}"}
    h, w = IMAGE_SIZE[1], IMAGE_SIZE[0]
    gain = cv2.resize(np.asarray(flat.gain, np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    truth = profile_shot.illumination_field
    g, t = gain / gain.mean(), truth / truth.mean()
    rel = g / t - 1.0
    inner = (slice(h // 20, h - h // 20), slice(w // 20, w - w // 20))
    # Apply to a second shot under the same light (new noise): what is left?
    test_shot = render_grey_target(image_size=IMAGE_SIZE, lighting=lighting, optics=optics, rng=case.seed + 1)
    evened = apply_flat_field(srgb_decode(test_shot.image).astype(np.float32), flat).mean(-1)
    smooth = cv2.GaussianBlur(cv2.resize(evened, (160, 120), interpolation=cv2.INTER_AREA), (0, 0), 2.0)
    before = cv2.GaussianBlur(cv2.resize(srgb_decode(test_shot.image).mean(-1).astype(np.float32), (160, 120),
                                         interpolation=cv2.INTER_AREA), (0, 0), 2.0)
    return {"case": asdict(case), "truth_max_min": float(truth.max() / truth.min()), "reported_ratio": flat.ratio,
            "field_error_max_pct": float(100 * np.abs(rel).max()),
            "field_error_inner_max_pct": float(100 * np.abs(rel[inner]).max()),
            "field_error_rms_pct": float(100 * np.sqrt(np.mean(rel**2))),
            "uneven_before": float(before.max() / before.min()), "uneven_after": float(smooth.max() / smooth.min())}


def run_no_card(seed: int, work_dir: str) -> list[dict[str, Any]]:
    """A crown photo without any card: without a station, and with a station profile saved
    from a ColorChecker shot of the same station (the fallback)."""
    from photostation.ledger import open_ledger
    from photostation.stations import save_profile

    rows = []
    crown = render_crown(CrownHead(seed=seed), image_size=IMAGE_SIZE, rng=seed, supersample=1)
    path = Path(work_dir) / f"nocard-{seed}.jpg"
    write_jpeg(path, crown.image, ExifFields(make="Canon", model="Canon EOS R8", focal_length_35mm=50,
                                             captured_at=CAPTURED), quality=92)
    grey = render_grey_target(image_size=IMAGE_SIZE, rng=seed)
    grey_path = Path(work_dir) / f"nocard-grey-{seed}.png"
    Image.fromarray(grey.image).save(grey_path)
    for label, p in (("crown photo", path), ("grey target", grey_path)):
        _, data, _ = calibrate(p, DEFAULT_METHOD)
        rows.append({"input": label, "station": None, **_bad_summary(data)})
    # With a station profile to fall back to.
    db = Path(work_dir) / f"ledger-{seed}.db"
    factory = open_ledger(f"sqlite:///{db}")
    source = render_colorchecker_scene("D50", image_size=IMAGE_SIZE, background="grey", rng=seed,
                                       pose=Pose(rotation_deg=10, tilt_deg=5))
    src_path = Path(work_dir) / f"station-card-{seed}.png"
    Image.fromarray(source.image).save(src_path)
    report, data, _ = calibrate(src_path, DEFAULT_METHOD)
    if report.correction is None:
        rows.append({"input": "crown photo", "station": "bench-station", "error": "station card shot not fitted"})
        return rows
    save_profile(factory, station="bench-station", valid_from=dt.date(2026, 1, 1), source="card",
                 card_type=data["card"]["type"], ccm=report.correction.matrix, ccm_method=report.correction.method,
                 delta_e00_after_mean=data["delta_e00"]["after_mean"], illuminant_cct_k=report.illuminant_cct_k)
    _, data, _ = calibrate(path, DEFAULT_METHOD, station="bench-station", factory=factory)
    rows.append({"input": "crown photo", "station": "bench-station", **_bad_summary(data)})
    return rows


def _bad_summary(data: dict[str, Any]) -> dict[str, Any]:
    return {"card": (data.get("card") or {}).get("type"), "correction": data.get("correction"),
            "method": data.get("method"), "excluded_patches": data.get("excluded_patches"),
            "delta_e00": data.get("delta_e00"), "flags": data.get("flags"), "verdict": data.get("verdict"),
            "failed_checks": [c["name"] for c in data.get("checks", []) if c.get("status") == "fail"],
            "warned_checks": [c["name"] for c in data.get("checks", []) if c.get("status") == "warn"]}


def _dispatch(job: tuple[str, Any, str]) -> Any:
    kind, case, work_dir = job
    if kind == "colour":
        return run_colour_case(case, work_dir)
    if kind == "scale":
        return run_scale_case(case, work_dir)
    if kind == "flat":
        return run_flat_case(case, work_dir)
    if kind == "no_card":
        return run_no_card(case, work_dir)
    raise ValueError(kind)


def run_jobs(jobs: list[tuple[str, Any, str]], processes: int) -> list[Any]:
    if processes <= 1:
        return [_dispatch(j) for j in jobs]
    with ProcessPoolExecutor(processes) as pool:
        return list(pool.map(_dispatch, jobs, chunksize=1))


# --------------------------------------------------------------------- floors

def correction_floors(spectra: str) -> list[dict[str, Any]]:
    """What a 3x3 correction can reach at best on noise-free patches of each illuminant.

    Uses the renderer's noise-free camera values (all 24 patches, no texture, no noise),
    outputs clipped to [0, 1] as in a corrected image: least squares in linear RGB, the 3x3
    that minimises CIEDE2000 directly (scipy), and for comparison a second-degree
    root-polynomial correction (Finlayson, Mackiewicz & Hurlbert 2015, colour-science;
    fitted and evaluated on the same 24 patches).
    Also the difference between the rendered chart (BabelColor average spectra) and the
    library's reference values (X-Rite, after November 2014), under D50.
    """
    from scipy.optimize import least_squares

    ref = reference_chart()
    # sRGB cannot hold the chart's cyan (its linear R is negative): a corrected image clipped
    # to [0, 1] misses it by this much even with a perfect correction.
    gamut = delta_e00(lab_d50(np.clip(ref.linear_srgb, 0, 1)), ref.lab_d50)
    gamut_mean, gamut_max = float(gamut.mean()), float(gamut.max())
    rows = []
    for illuminant in ILLUMINANTS:
        r = render_colorchecker_scene(illuminant, image_size=(320, 240), background="grey", rng=0, noise_sigma=0.0,
                                      spectra=spectra)
        cam = r.camera_linear_srgb
        m_ls = np.linalg.lstsq(cam, ref.linear_srgb, rcond=None)[0]
        de_ls = delta_e00(lab_d50(np.clip(cam @ m_ls, 0, 1)), ref.lab_d50)

        def residual(p: np.ndarray) -> np.ndarray:
            return delta_e00(lab_d50(np.clip(cam @ p.reshape(3, 3), 0, 1)), ref.lab_d50)

        best = least_squares(residual, m_ls.ravel(), max_nfev=400)
        de_opt = residual(best.x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rp2 = _colour().characterisation.colour_correction(cam, cam, ref.linear_srgb, method="Finlayson 2015",
                                                               degree=2, root_polynomial_expansion=True)
        de_rp2 = delta_e00(lab_d50(np.clip(rp2, 0, 1)), ref.lab_d50)
        # Neutrality a perfect 3x3 (the ΔE-optimal one) leaves on the greys, vs the reference.
        _, neutral_opt = neutral_spreads(np.clip(cam @ best.x.reshape(3, 3), 0, 1), ref.linear_srgb)
        rows.append({"illuminant": illuminant, "cct_k": round(r.cct_k),
                     "uncorrected_mean": float(delta_e00(lab_d50(np.clip(cam, 0, 1)), ref.lab_d50).mean()),
                     "ls3x3_mean": float(de_ls.mean()), "ls3x3_max": float(de_ls.max()),
                     "opt3x3_mean": float(de_opt.mean()), "opt3x3_max": float(de_opt.max()),
                     "rootpoly2_mean": float(de_rp2.mean()), "rootpoly2_max": float(de_rp2.max()),
                     "chart_vs_reference_mean": float(delta_e00(r.spectral_lab_d50, ref.lab_d50).mean()),
                     "chart_vs_reference_max": float(delta_e00(r.spectral_lab_d50, ref.lab_d50).max()),
                     "gamut_mean": gamut_mean, "gamut_max": gamut_max,
                     "opt3x3_neutral_vs_reference_max_pct": max(v for v in neutral_opt if v is not None)})
    return rows


# ----------------------------------------------------------------------- tables

def _stats(values: list[float | None]) -> dict[str, Any]:
    v = np.array([x for x in values if x is not None and np.isfinite(x)], float)
    if v.size == 0:
        return {"n": 0, "mean": None, "median": None, "max": None}
    return {"n": int(v.size), "mean": float(v.mean()), "median": float(np.median(v)), "max": float(v.max())}


def _f(v: Any, fmt: str = "6.2f") -> str:
    if v is None:
        width = fmt.split(".")[0]
        return "n/a".rjust(int(width) if width else 0)
    return format(v, fmt)


def colour_tables(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"per_illuminant": [], "overall": {}, "misses": [], "crosscheck": {}}
    groups = {ill: [r for r in results if r["case"]["illuminant"] == ill] for ill in ILLUMINANTS}
    for method in METHODS:
        all_after, all_max, all_found, all_neutral, all_neutral_rel, all_bright = [], [], [], [], [], []
        diffs = []
        for ill, rows in groups.items():
            found = [r["methods"][method]["found_correct"] for r in rows]
            after = [r["methods"][method].get("delta_e_after_bench", {}).get("mean") for r in rows]
            amax = [r["methods"][method].get("delta_e_after_bench", {}).get("max") for r in rows]
            before = [r["methods"][method].get("delta_e_before_bench_kept") for r in rows]
            lib_after = [(r["methods"][method]["json"].get("delta_e00") or {}).get("after_mean") for r in rows]
            lib_before = [(r["methods"][method]["json"].get("delta_e00") or {}).get("before_mean") for r in rows]
            neutral = [max([x for x in r["methods"][method].get("neutral_spread_pct") or [] if x is not None],
                           default=None) for r in rows]
            neutral_rel = [max([x for x in r["methods"][method].get("neutral_spread_vs_reference_pct") or []
                                if x is not None], default=None) for r in rows]
            neutral_bright = [max([x for x in r["methods"][method].get("neutral_spread_vs_reference_bright_pct") or []
                                   if x is not None], default=None) for r in rows]
            corner = [r["methods"][method]["corners"]["error_px"] for r in rows]
            orient = [r["methods"][method]["corners"]["orientation_ok"] for r in rows]
            cct = [r["methods"][method]["json"].get("illuminant_cct_k") for r in rows]
            for a, b in zip(after, lib_after):
                if a is not None and b is not None:
                    diffs.append(abs(a - b))
            row = {"method": method, "illuminant": ill, "n": len(rows),
                   "detected_pct": 100.0 * sum(found) / max(len(rows), 1),
                   "before_mean": _stats(before)["mean"], "before_mean_library": _stats(lib_before)["mean"],
                   "after_mean": _stats(after)["mean"], "after_mean_worst_photo": _stats(after)["max"],
                   "after_max": _stats(amax)["max"], "after_mean_library": _stats(lib_after)["mean"],
                   "neutral_spread_pct_max": _stats(neutral)["max"],
                   "neutral_spread_vs_reference_pct_max": _stats(neutral_rel)["max"],
                   "neutral_spread_vs_reference_pct_median": _stats(neutral_rel)["median"],
                   "neutral_spread_vs_reference_bright_pct_max": _stats(neutral_bright)["max"],
                   "corner_error_px_median": _stats(corner)["median"],
                   "orientation_ok_pct": 100.0 * sum(bool(o) for o in orient if o is not None) / max(
                       sum(o is not None for o in orient), 1),
                   "cct_k_median": _stats(cct)["median"], "cct_k_truth": rows[0]["cct_k_truth"] if rows else None}
            out["per_illuminant"].append(row)
            all_after += after
            all_max += amax
            all_found += found
            all_neutral += neutral
            all_neutral_rel += neutral_rel
            all_bright += neutral_bright
        out["overall"][method] = {"n": len(results), "detected_pct": 100.0 * sum(all_found) / max(len(all_found), 1),
                                  "after_mean": _stats(all_after)["mean"], "after_max": _stats(all_max)["max"],
                                  "neutral_spread_pct_max": _stats(all_neutral)["max"],
                                  "neutral_spread_vs_reference_pct_max": _stats(all_neutral_rel)["max"],
                                  "neutral_spread_vs_reference_bright_pct_max": _stats(all_bright)["max"]}
        out["crosscheck"][method] = {"n": len(diffs), "max_abs_diff": max(diffs, default=None),
                                     "mean_abs_diff": float(np.mean(diffs)) if diffs else None}
    out["corner_outliers"] = []
    for r in results:
        for method in METHODS:
            m = r["methods"][method]
            if m["found"] and (m["corners"]["error_px"] or 0) > 50:
                c = r["case"]
                out["corner_outliers"].append({"method": method, "illuminant": c["illuminant"], "seed": c["seed"],
                                               "rotation_deg": c["rotation_deg"], "error_px": m["corners"]["error_px"],
                                               "reported": (m["json"].get("card") or {}).get("corners"),
                                               "delta_e_after": (m.get("delta_e_after_bench") or {}).get("mean")})
            if not m["found_correct"]:
                c = r["case"]
                out["misses"].append({"method": method, "illuminant": c["illuminant"], "rotation_deg": c["rotation_deg"],
                                      "tilt_deg": c["tilt_deg"], "chart_width_frac": c["chart_width_frac"],
                                      "background": c["background"], "seed": c["seed"],
                                      "why": "reported in the wrong place" if m["found"] else "not found"})
    # Neutrality per grey patch: median over photos of the spread relative to the reference.
    out["neutral_per_patch"] = []
    for method in METHODS:
        for ill, rows in groups.items():
            per = np.array([[np.nan if x is None else x for x in r["methods"][method]["neutral_spread_vs_reference_pct"]]
                            for r in rows if r["methods"][method].get("neutral_spread_vs_reference_pct")], float)
            plain = np.array([[np.nan if x is None else x for x in r["methods"][method]["neutral_spread_pct"]]
                              for r in rows if r["methods"][method].get("neutral_spread_pct")], float)
            if per.size:
                out["neutral_per_patch"].append({"method": method, "illuminant": ill,
                                                 "vs_reference_median": np.nanmedian(per, 0).tolist(),
                                                 "plain_median": np.nanmedian(plain, 0).tolist()})
    # Which patches carry the error (mean over photos), per illuminant, for the default method.
    names = reference_chart().patch_names
    worst = []
    for ill, rows in groups.items():
        per = np.array([r["methods"][DEFAULT_METHOD].get("delta_e_after_bench", {}).get("per_patch")
                        for r in rows if r["methods"][DEFAULT_METHOD].get("delta_e_after_bench")], float)
        if per.size:
            mean = np.nanmean(per, axis=0)
            top = np.argsort(mean)[::-1][:3]
            worst.append({"illuminant": ill, "worst_patches": [(names[i], round(float(mean[i]), 2)) for i in top]})
    out["worst_patches"] = worst
    return out


def print_colour(tables: dict[str, Any], floors: list[dict[str, Any]], title: str, brief: bool = False) -> None:
    print(f"\n== 1{'b' if brief else ''}. ColorChecker, {title}: detection and CIEDE2000 against the reference "
          "(benchmark-measured) ==")
    print(f"{'method':<16}{'illum':<6}{'n':>3}{'found%':>7}{'before':>7}{'after':>7}{'worst':>7}{'max':>6}"
          f"{'lib.after':>10}{'grey%':>7}{'grey/ref%':>10}{'≥5%':>6}{'corner':>7}{'orient%':>8}{'CCT':>6}{'truth':>6}")
    for r in tables["per_illuminant"]:
        print(f"{r['method']:<16}{r['illuminant']:<6}{r['n']:>3}{r['detected_pct']:>7.0f}{_f(r['before_mean'], '7.2f')}"
              f"{_f(r['after_mean'], '7.2f')}{_f(r['after_mean_worst_photo'], '7.2f')}{_f(r['after_max'], '6.2f')}"
              f"{_f(r['after_mean_library'], '10.2f')}{_f(r['neutral_spread_pct_max'], '7.2f')}"
              f"{_f(r['neutral_spread_vs_reference_pct_max'], '10.2f')}"
              f"{_f(r['neutral_spread_vs_reference_bright_pct_max'], '6.2f')}{_f(r['corner_error_px_median'], '7.1f')}"
              f"{r['orientation_ok_pct']:>8.0f}{_f(r['cct_k_median'], '6.0f')}{_f(r['cct_k_truth'], '6.0f')}")
    if not brief:
        print("  before/after: mean ΔE00 of the patches per photo, averaged over photos; worst: the worst photo's mean;")
        print("  max: the worst single patch; lib.after: the report's delta_e00.after_mean (averaged);")
        print("  grey%: max over the 6 neutrals of (max-min)/mean of corrected linear RGB (the reference greys")
        print("  themselves spread up to 5.9 %); grey/ref%: the same for corrected / reference RGB (worst photo);")
        print("  ≥5%: grey/ref% over the greys recorded with every channel >= 5 % of full scale (the library's rule);")
        print("  corner: median px distance of the reported corners from the true patch-grid (or card) corners;")
        print("  found%: reported, with the corners within 50 px of the chart.")
    for method, o in tables["overall"].items():
        print(f"  overall {method:<16} n={o['n']} found {o['detected_pct']:.0f} %, after mean {_f(o['after_mean'], '.2f')}, "
              f"worst patch {_f(o['after_max'], '.2f')}, grey/ref max {_f(o['neutral_spread_vs_reference_pct_max'], '.2f')} %"
              f" (≥5% greys {_f(o['neutral_spread_vs_reference_bright_pct_max'], '.2f')} %)")
    for method, c in tables["crosscheck"].items():
        print(f"  cross-check {method}: |benchmark after mean - report after_mean| max {_f(c['max_abs_diff'], '.3f')}, "
              f"mean {_f(c['mean_abs_diff'], '.3f')} over {c['n']} photos")
    for w in tables["worst_patches"] if not brief else ():
        print(f"  largest errors after {DEFAULT_METHOD} under {w['illuminant']}: " +
              ", ".join(f"{n} {v}" for n, v in w["worst_patches"]))
    for o in tables["corner_outliers"]:
        print(f"  reported corners off by {o['error_px']:.0f} px ({o['method']}, {o['illuminant']}, roll "
              f"{o['rotation_deg']:.1f}°, seed {o['seed']}): {o['reported']} (ΔE00 after {_f(o['delta_e_after'], '.2f')})")
    if tables["misses"]:
        print("  charts not found (or reported more than 50 px from the chart):")
        for m in tables["misses"]:
            print(f"    {m['method']:<16}{m['illuminant']:<5} roll {m['rotation_deg']:6.1f}° tilt {m['tilt_deg']:4.1f}° "
                  f"width {100 * m['chart_width_frac']:4.1f} % {m['background']} (seed {m['seed']}): {m['why']}")
    print("\n   floor: the best a 3x3 matrix can do on noise-free patches of this camera and chart (Luther")
    print("   condition; LS: least squares in linear RGB, opt: the 3x3 minimising ΔE00, opt grey: the channel")
    print("   spread it leaves on the greys vs the reference), a root-polynomial degree-2 fit for comparison,")
    print("   the rendered chart against the reference (X-Rite 2014) under D50, and the sRGB gamut (the")
    print("   reference clipped to [0, 1]: the cyan patch is out of gamut)")
    print(f"   {'illum':<6}{'CCT':>6}{'uncorr.':>9}{'LS mean':>9}{'LS max':>8}{'opt mean':>9}{'opt max':>8}"
          f"{'opt grey%':>10}{'RP2 mean':>9}{'chart-ref':>10}{'gamut':>7}{'gamut max':>10}")
    for f in floors:
        print(f"   {f['illuminant']:<6}{f['cct_k']:>6}{f['uncorrected_mean']:>9.2f}{f['ls3x3_mean']:>9.2f}{f['ls3x3_max']:>8.2f}"
              f"{f['opt3x3_mean']:>9.2f}{f['opt3x3_max']:>8.2f}{f['opt3x3_neutral_vs_reference_max_pct']:>10.2f}"
              f"{f['rootpoly2_mean']:>9.2f}{f['chart_vs_reference_mean']:>10.2f}{f['gamut_mean']:>7.2f}{f['gamut_max']:>10.2f}")


def print_neutral(tables: dict[str, Any]) -> None:
    ref = reference_chart().linear_srgb
    own = [100 * np.ptp(ref[i]) / ref[i].mean() for i in NEUTRALS]
    print("\n== 2. Grey neutrality after correction: channel spread (max-min)/mean in %, median over photos ==")
    print(f"{'method':<16}{'illum':<6}" + "".join(f"{n:>9}" for n in ("white", "n8", "n6.5", "n5", "n3.5", "black"))
          + "   (first line: corrected / reference; second: corrected RGB itself)")
    for r in tables["neutral_per_patch"]:
        print(f"{r['method']:<16}{r['illuminant']:<6}" + "".join(_f(v, "9.2f") for v in r["vs_reference_median"]))
        print(f"{'':<22}" + "".join(_f(v, "9.2f") for v in r["plain_median"]))
    print(f"{'reference':<22}" + "".join(f"{v:9.2f}" for v in own) + "   (the reference greys' own spread)")


def scale_tables(results: list[dict[str, Any]]) -> dict[str, Any]:
    errs = [abs(r["scale_error_pct"]) for r in results if r["scale_error_pct"] is not None]
    terr = [abs(r["tilt_error_deg"]) for r in results if r["tilt_error_deg"] is not None]
    return {"n": len(results), "found": sum(r["card_type"] is not None for r in results),
            "with_scale": len(errs), "abs_error_pct": _stats(errs), "abs_tilt_error_deg": _stats(terr)}


def print_scale(results: list[dict[str, Any]], tables: dict[str, Any]) -> None:
    print(f"\n== 3. Scale from the PS-1 card at {CARD_TILT_DEG:g}° tilt ==")
    print(f"{'roll':>6}{'axis':>6}{'lens':>5}{'px/mm':>6}{'bg':>6}{'card':>6}{'mm/px':>10}{'truth':>10}{'err %':>8}"
          f"{'H@ctr %':>8}{'tilt':>7}{'err°':>6}")
    for r in results:
        c = r["case"]
        print(f"{c['rotation_deg']:>6.0f}{c['tilt_axis_deg']:>6.0f}{c['focal_length_35mm']:>5}{c['px_per_mm']:>6.2f}"
              f"{c['background']:>6}{(r['card_type'] or '-'):>6}{_f(r['mm_per_px'], '10.5f')}{r['mm_per_px_truth']:>10.5f}"
              f"{_f(r['scale_error_pct'], '8.3f')}{_f(r.get('library_homography_error_at_centre_pct'), '8.3f')}"
              f"{_f(r['tilt_deg'], '7.2f')}{_f(r['tilt_error_deg'], '6.2f')}")
    e, t = tables["abs_error_pct"], tables["abs_tilt_error_deg"]
    print(f"  |scale error|: median {_f(e['median'], '.3f')} %, max {_f(e['max'], '.3f')} % ({e['n']} of {tables['n']} "
          f"photos with a scale); |tilt error|: median {_f(t['median'], '.2f')}°, max {_f(t['max'], '.2f')}°")
    h = [abs(r["library_homography_error_at_centre_pct"]) for r in results
         if r.get("library_homography_error_at_centre_pct") is not None]
    if h:
        print(f"  H@ctr: the library's card homography evaluated at the true card centre: |error| max {max(h):.3f} %")
    print("  truth: 1/sqrt(det J) of the renderer's card->image homography at the card centre "
          f"(fronto-parallel scale would read {100 * (np.sqrt(np.cos(np.radians(CARD_TILT_DEG))) - 1):.1f} % different)")


def print_flat(results: list[dict[str, Any]]) -> dict[str, Any]:
    print("\n== 4. Flat-field from a uniform grey target ==")
    print(f"{'vign':>6}{'grad':>6}{'dir':>5}{'truth max/min':>14}{'reported':>9}{'err max %':>10}{'inner %':>8}"
          f"{'rms %':>7}{'uneven before':>14}{'after':>7}")
    for r in results:
        c = r["case"]
        if "error" in r:
            print(f"{c['vignetting']:>6.2f}{c['gradient_strength']:>6.2f}{c['gradient_direction_deg']:>5.0f}  {r['error']}")
            continue
        print(f"{c['vignetting']:>6.2f}{c['gradient_strength']:>6.2f}{c['gradient_direction_deg']:>5.0f}"
              f"{r['truth_max_min']:>14.3f}{r['reported_ratio']:>9.3f}{r['field_error_max_pct']:>10.2f}"
              f"{r['field_error_inner_max_pct']:>8.2f}{r['field_error_rms_pct']:>7.2f}{r['uneven_before']:>14.3f}"
              f"{r['uneven_after']:>7.3f}")
    ok = [r for r in results if "error" not in r]
    print("  err: fitted gain vs the true illumination field (both normalised to mean 1) over the frame / inside a 5 %")
    print("  margin; uneven: max/min of the smoothed luminance of a second shot before / after the flat-field.")
    return {"n": len(results), "fitted": len(ok),
            "field_error_rms_pct": _stats([r["field_error_rms_pct"] for r in ok]),
            "field_error_inner_max_pct": _stats([r["field_error_inner_max_pct"] for r in ok]),
            "uneven_after": _stats([r["uneven_after"] for r in ok])}


def print_bad(colour_bad: list[dict[str, Any]], no_card: list[dict[str, Any]]) -> None:
    names = reference_chart().patch_names
    print(f"\n== 5. Bad input: what the library reported (ccm_method={DEFAULT_METHOD}) ==")
    for r in colour_bad:
        c = r["case"]
        m = r["methods"][DEFAULT_METHOD]
        j = m["json"]
        truth = r["truth_patches_outside"] if c["kind"] == "partial" else r["truth_patches_overexposed"]
        excluded = {int(e["index"]): e["reason"] for e in j.get("excluded_patches") or []}
        missed = sorted(set(truth) - set(excluded))
        extra = sorted(set(excluded) - set(truth))
        what = (f"{c['severity']} cut, shift {c['shift_mm'][0]:+.0f},{c['shift_mm'][1]:+.0f} mm" if c["kind"] == "partial"
                else f"+{c['exposure_ev']:.2f} EV")
        corners = m["corners"]
        print(f"- {c['kind']} ({c['illuminant']}, {what}, {c['background']}): card {(j.get('card') or {}).get('type')}"
              + (f" (corners {corners['error_px']} px from the true {corners['outline']})" if corners["error_px"] is not None
                 else "") + f", correction {j.get('correction')}, verdict {j.get('verdict')}")
        print(f"    truth {'central half outside the frame' if c['kind'] == 'partial' else 'overexposed'}: "
              f"{', '.join(names[i] for i in truth) or '-'}")
        if c["kind"] == "partial" and r.get("truth_patches_partly_outside"):
            print(f"    truth partly outside (centre readable): "
                  f"{', '.join(names[i] for i in r['truth_patches_partly_outside'])}")
        print(f"    excluded: {', '.join(f'{names[i]} ({why})' for i, why in sorted(excluded.items())) or '-'}")
        if missed or extra:
            print(f"    not excluded though affected: {[names[i] for i in missed]}; excluded though fine: "
                  f"{[names[i] for i in extra]}")
        de = m.get("delta_e_after_bench") or {}
        print(f"    ΔE00 after (benchmark, usable patches): mean {_f(de.get('mean'), '.2f')}, max {_f(de.get('max'), '.2f')}; "
              f"report {j.get('delta_e00')}")
        for flag in j.get("flags") or []:
            print(f"    flag: {flag}")
    for r in no_card:
        print(f"- no card ({r['input']}, station {r['station']}): card {r.get('card')}, correction {r.get('correction')}, "
              f"method {r.get('method')}, verdict {r.get('verdict')}, failed {r.get('failed_checks')}, "
              f"warned {r.get('warned_checks')}")
        for flag in r.get("flags") or []:
            print(f"    flag: {flag}")
        if "error" in r:
            print(f"    {r['error']}")


def bad_summary(colour_bad: list[dict[str, Any]], no_card: list[dict[str, Any]]) -> dict[str, Any]:
    partial = [r for r in colour_bad if r["case"]["kind"] == "partial"]
    over = [r for r in colour_bad if r["case"]["kind"] == "overexposed"]

    def listed(r: dict[str, Any], truth_key: str) -> bool:
        j = r["methods"][DEFAULT_METHOD]["json"]
        if (j.get("card") or {}).get("type") is None:
            return False
        excluded = {int(e["index"]) for e in j.get("excluded_patches") or []}
        return bool(r[truth_key]) and set(r[truth_key]) <= excluded

    def safe(r: dict[str, Any]) -> bool:
        """Listed, or no correction at all with a flag (never a fit on unreadable patches)."""
        j = r["methods"][DEFAULT_METHOD]["json"]
        return listed(r, "truth_patches_outside") or (j.get("correction") != "fitted" and bool(j.get("flags")))

    light = [r for r in partial if r["case"]["severity"] == "light"]
    heavy = [r for r in partial if r["case"]["severity"] == "heavy"]
    return {"partial_light_found_and_listed": sum(listed(r, "truth_patches_outside") for r in light),
            "partial_light_n": len(light),
            "partial_heavy_found_and_listed": sum(listed(r, "truth_patches_outside") for r in heavy),
            "partial_heavy_safe": sum(safe(r) for r in heavy), "partial_heavy_n": len(heavy),
            "overexposed_found_and_listed": sum(listed(r, "truth_patches_overexposed") for r in over),
            "overexposed_n": len(over),
            "no_card_flagged": sum(bool(r.get("flags")) and r.get("card") is None for r in no_card),
            "no_card_n": len(no_card),
            "no_card_fallback_ok": all(
                r.get("correction") == ("station_profile" if r["station"] else "none") for r in no_card if "error" not in r)}


# ----------------------------------------------------------------------- headline

def targets(colour: dict[str, Any], scale: dict[str, Any], bad: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for method in METHODS:
        o = colour["overall"][method]
        rows.append({"target": f"charts found ({method})", "value": o["detected_pct"], "limit": TARGET_DETECTION_PCT,
                     "ok": o["detected_pct"] >= TARGET_DETECTION_PCT, "unit": "%"})
        per = [r for r in colour["per_illuminant"] if r["method"] == method]
        worst = max((r["after_mean"] for r in per if r["after_mean"] is not None), default=None)
        rows.append({"target": f"mean ΔE00 after, worst illuminant ({method})", "value": worst, "limit": TARGET_DELTA_E,
                     "ok": worst is not None and worst <= TARGET_DELTA_E, "unit": "",
                     "detail": {r["illuminant"]: r["after_mean"] for r in per}})
        rows.append({"target": f"mean ΔE00 after, overall ({method})", "value": o["after_mean"], "limit": TARGET_DELTA_E,
                     "ok": o["after_mean"] is not None and o["after_mean"] <= TARGET_DELTA_E, "unit": ""})
        rows.append({"target": f"corrected greys neutral vs reference, all six, worst photo ({method})",
                     "value": o["neutral_spread_vs_reference_pct_max"], "limit": TARGET_NEUTRAL_PCT,
                     "ok": o["neutral_spread_vs_reference_pct_max"] is not None
                     and o["neutral_spread_vs_reference_pct_max"] <= TARGET_NEUTRAL_PCT, "unit": "%",
                     "detail": {r["illuminant"]: r["neutral_spread_vs_reference_pct_max"] for r in per}})
        rows.append({"target": f"corrected greys neutral vs reference, channels >= 5 %, worst photo ({method})",
                     "value": o["neutral_spread_vs_reference_bright_pct_max"], "limit": TARGET_NEUTRAL_PCT,
                     "ok": o["neutral_spread_vs_reference_bright_pct_max"] is not None
                     and o["neutral_spread_vs_reference_bright_pct_max"] <= TARGET_NEUTRAL_PCT, "unit": "%",
                     "detail": {r["illuminant"]: r["neutral_spread_vs_reference_bright_pct_max"] for r in per}})
    e = scale["abs_error_pct"]
    rows.append({"target": f"scale error at {CARD_TILT_DEG:g}° tilt, median", "value": e["median"],
                 "limit": TARGET_SCALE_ERROR_PCT, "ok": e["median"] is not None and e["median"] <= TARGET_SCALE_ERROR_PCT,
                 "unit": "%"})
    rows.append({"target": f"scale error at {CARD_TILT_DEG:g}° tilt, max", "value": e["max"], "limit": TARGET_SCALE_ERROR_PCT,
                 "ok": e["max"] is not None and e["max"] <= TARGET_SCALE_ERROR_PCT and e["n"] == scale["n"], "unit": "%",
                 "detail": {"median": e["median"], "with_scale": e["n"], "n": scale["n"]}})
    rows.append({"target": "partly out of frame (about one column or row cut): found, cut patches listed",
                 "value": bad["partial_light_found_and_listed"], "limit": bad["partial_light_n"],
                 "ok": bad["partial_light_found_and_listed"] == bad["partial_light_n"], "unit": "photos"})
    rows.append({"target": "partly out of frame (up to two columns or rows cut): listed, or no correction and flagged",
                 "value": bad["partial_heavy_safe"], "limit": bad["partial_heavy_n"],
                 "ok": bad["partial_heavy_safe"] == bad["partial_heavy_n"], "unit": "photos",
                 "detail": {"found_and_listed": bad["partial_heavy_found_and_listed"]}})
    rows.append({"target": "overexposed: clipped patches listed", "value": bad["overexposed_found_and_listed"],
                 "limit": bad["overexposed_n"], "ok": bad["overexposed_found_and_listed"] == bad["overexposed_n"],
                 "unit": "photos"})
    rows.append({"target": "no card: flagged, station profile or none", "value": bad["no_card_flagged"],
                 "limit": bad["no_card_n"], "ok": bad["no_card_flagged"] == bad["no_card_n"] and bad["no_card_fallback_ok"],
                 "unit": "photos"})
    return rows


def print_headline(rows: list[dict[str, Any]]) -> None:
    print("\n== Headline ==")
    for r in rows:
        v = r["value"]
        shown = "n/a" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
        op = "<=" if "ΔE" in r["target"] or "error" in r["target"] or "neutral" in r["target"] else ">="
        if r["unit"] == "photos":
            op, limit = "of", str(r["limit"])
        else:
            limit = f"{r['limit']:g}"
        print(f"  {'PASS' if r['ok'] else 'MISS'}  {r['target']}: {shown} {r['unit']} ({op} {limit})")


# ---------------------------------------------------------------------------- main

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = benchmark_parser(__doc__.split("\n\n")[0], DEFAULT_OUT, quick="fewer photos (about 1-2 min)",
                         jobs="worker processes (default: up to 2)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from photostation.calibrate import calibrate_photo  # noqa: F401
    except ImportError as exc:
        print(f"calibration: the library call is not available yet ({exc})", file=sys.stderr)
        return 2
    mode = "quick" if args.quick else "full"
    counts = COUNTS[mode]
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    colour_cases = build_colour_cases(rng, counts["colour_per_illuminant"], "reference")
    babel_cases = build_colour_cases(rng, counts["babelcolor_per_illuminant"], "babelcolor")
    bad_cases = build_bad_cases(rng, counts)
    scale_cases = build_scale_cases(rng, counts["scale"])
    flat_cases = build_flat_cases(rng, counts["flat"])
    with photo_folder("calibration", args.keep) as work_dir:
        print(f"calibration ({mode}, seed {args.seed}): {len(colour_cases)} + {len(babel_cases)} ColorChecker photos, "
              f"{len(bad_cases)} bad "
              f"ones, {len(scale_cases)} PS-1 photos, {len(flat_cases)} flat-field pairs, {counts['no_card']} no-card "
              f"sets at {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}; {args.jobs} process(es); photos in {work_dir}", file=sys.stderr)
        jobs = ([("colour", c, str(work_dir)) for c in colour_cases + babel_cases + bad_cases]
                + [("scale", c, str(work_dir)) for c in scale_cases]
                + [("flat", c, str(work_dir)) for c in flat_cases]
                + [("no_card", int(rng.integers(2**31 - 1)), str(work_dir)) for _ in range(counts["no_card"])])
        results = run_jobs(jobs, args.jobs)
        n_babel = len(babel_cases)
        babel_results = results[len(colour_cases):len(colour_cases) + n_babel]
        results = results[:len(colour_cases)] + results[len(colour_cases) + n_babel:]
        n_colour, n_bad, n_scale, n_flat = len(colour_cases), len(bad_cases), len(scale_cases), len(flat_cases)
        colour_results = results[:n_colour]
        bad_results = results[n_colour:n_colour + n_bad]
        scale_results = results[n_colour + n_bad:n_colour + n_bad + n_scale]
        flat_results = results[n_colour + n_bad + n_scale:n_colour + n_bad + n_scale + n_flat]
        no_card = [row for rows in results[n_colour + n_bad + n_scale + n_flat:] for row in rows]

        floors = {sp: correction_floors(sp) for sp in ("reference", "babelcolor")}
        colour = colour_tables(colour_results)
        babel = colour_tables(babel_results)
        print_colour(colour, floors["reference"], "chart matching its reference under D50 (spectra='reference')")
        print_colour(babel, floors["babelcolor"], "BabelColor average spectra (a chart ~0.8 ΔE00 off the reference)",
                     brief=True)
        print_neutral(colour)
        scale = scale_tables(scale_results)
        print_scale(scale_results, scale)
        flat = print_flat(flat_results)
        bad = bad_summary(bad_results, no_card)
        print_bad(bad_results, no_card)
        rows = targets(colour, scale, bad)
        print_headline(rows)
        runtime_s = time.perf_counter() - started
        render_s = sum(r["render_s"] for r in colour_results + babel_results + bad_results + scale_results)
        calib_s = sum(m["calibrate_s"] for r in colour_results + babel_results + bad_results
                      for m in r["methods"].values()) + sum(
            r["calibrate_s"] for r in scale_results)
        print(f"\nruntime {runtime_s:.0f} s; render {render_s:.0f} s and calibrate_photo {calib_s:.0f} s summed over photos")
        write_results(args.out, {
            "benchmark": "calibration", "mode": mode, "seed": args.seed, "counts": counts,
            "image_size": list(IMAGE_SIZE), "methods": list(METHODS), "illuminants": list(ILLUMINANTS),
            "targets": rows, "colour": colour, "colour_babelcolor": babel, "floors": floors, "scale": scale,
            "flat_field": flat, "bad_input": bad, "runtime_s": runtime_s,
            "cases": {"colour": colour_results, "colour_babelcolor": babel_results, "bad": bad_results,
                      "scale": scale_results, "flat": flat_results, "no_card": no_card}})
        print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
