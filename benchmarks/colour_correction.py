"""Colour-correction benchmark: ``photostation calibrate PHOTO --out OUT.png --json`` measured
from outside, on real photos of an X-Rite ColorChecker Classic and on spectral renders that
owe nothing to photostation's own renderer.

**Independent measurement.** The CLI runs as a subprocess (exit 0 ok, 1 the tool's verdict
is fail, 2 bad input) and writes the corrected photo. This script then measures that PNG
itself, with no photostation or ``calibration`` code: the chart is found with OpenCV's
``mcc`` detector (again on a 0.6x copy when it misses), each of the 24 patches is averaged
over its central half (the patch quad shrunk 50 % toward its centre), decoded from sRGB
(IEC 61966-2-1), converted to CIE L*a*b* under D50 (Bradford) with colour-science and
compared by CIEDE2000 with colour-science's reference. The original photo is measured the
same way ("before"). Per photo: mean and worst-patch ΔE00, grey neutrality (over the
neutral patches lighter than black: max of ``100 * (max - min) / mean`` of corrected linear
RGB divided by the reference linear sRGB) and, as a baseline, a plain 3x3 matrix fitted
by least squares (in sample, unweighted) from the original's sRGB-decoded patch means onto
the reference. The grey figure has a floor: neutral 3.5 sits near code 84, where one 8-bit code
is ~2.4 % in linear light, so even a perfectly colorimetric camera's noiseless JPEG reads ~3 %
(noise dithers it down to 1-3 %). From the tool's JSON: ``method``, ``linearisation``, its own
``delta_e00.after_mean`` and ``expected_mean`` and any flag about a withheld correction.

**Part 1, real photos** (``--part real``; reference X-Rite "ColorChecker24 - After
November 2014", D50). None of these sets states a licence: they are never committed here.
Fetch each GitHub repository (e.g. the ``fetch`` tool, or ``git clone``) and copy the files
of :data:`MANIFEST` into ``$PHOTOSTATION_REALSETS/<set>/`` keeping their paths::

    $PHOTOSTATION_REALSETS/arcu_colorchecker/example_imgs/color_checker (1).jpg

- ``arcu_colorchecker`` (JTvD/arcu_colorchecker): ten phone photos of a ColorChecker
  Classic, ``example_imgs/color_checker (1..10).jpg``. The DESIGN set: the library's
  choices were made looking at it, so its figures are not a test.
- ``ColorChecker`` (karnehen/ColorChecker): two DSLR photos of a chart among seeds,
  ``src/seedcounter/examples/seed_dataset_clustering/CAMERA{1,2}/...cc_1.jpg``.
- ``ColorcheckerCalibration`` (luimoli/ColorcheckerCalibration): an industrial MindVision
  camera, ``data/mindvision/{d65,CWF,TL84}_colorchecker.jpg`` and ``exposure30.jpg``, under
  D65, CWF and TL84 fluorescent light; not white balanced, nearly linear, strong green cast.
- ``python-macduff-colorchecker-detector`` (mathandy/python-macduff-colorchecker-detector):
  ``examples/below_fishbox.jpg``, a ColorChecker Passport in shade.
- ``opencv-mcc-cc-test`` (crystaldust/opencv-mcc-cc-test): ``build/{1,2,3,4}.png``, 640x480
  phone frames.

All but the design set form the REPORT set. A photo is *not measured* (listed, left out of
the means) when ``mcc`` does not find a chart on the original, or finds one that is not the
chart (:func:`misdetection`). Without ``$PHOTOSTATION_REALSETS`` (or a set folder) the part
prints "skipped: ..." and the run carries on.

**Part 2, spectral renders** (``--part spectral``; reference: BabelColor Average spectra
under D50, CIE 1931 2 deg; the tool gets a protocol naming "BabelColor Average"). Rendered
with colour-science alone on a 400-700 nm, 10 nm grid: reflectances ``BabelColor Average``;
cameras Nikon 5100 and Sigma SDMerill (NPL sensitivities; the Sigma's, measured to 680 nm,
extended at their last value); illuminants A, D50, D65 and F2. Camera pipeline: raw RGB
``sum S_c E R dλ``; a fixed daylight white balance (gains that make the white patch neutral
under D65: warm light shows as a cast); a 3x3 camera matrix fitted once per camera under D65
(least squares onto the patches' linear sRGB under D65); exposure putting the white patch's
largest channel at 0.85; Poisson-like noise ``sqrt(0.0002 v) + 0.002``; a camera tone curve
(sRGB OETF then a mild S-curve, :func:`camera_tone`); 8 bits; JPEG quality 92 without EXIF.
The drawing: 6x4 square patches on a black card on a mid-grey backdrop, a random
perspective warp (corners +-6 %) and a 1 px blur. Renders give the true patch positions, so
an ``mcc`` detection elsewhere is counted (and the true quads are used).

Targets: real report set mean ΔE00 <= 2.5 and greys within 2 %; renders mean ΔE00 <= 2.0
under every illuminant and no patch above 6.

Run ``.venv/bin/python benchmarks/colour_correction.py [--quick] [--part real|spectral]
[--seed N] [--out FILE] [--jobs N]``.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.realsets import realsets_root  # noqa: E402
from benchmarks.records import benchmark_parser, write_results  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "colour_correction.json"
CLI = Path(sys.executable).with_name("photostation")
PROTOCOL = ROOT / "photostation" / "default_protocol.toml"

XRITE = "ColorChecker24 - After November 2014"
BABEL = "BabelColor Average"
NEUTRALS = tuple(range(18, 24))      # white ... black
GREY_MIN_LINEAR = 0.05               # neutrals whose reference linear sRGB is below this (black) are not judged
PATCH_SHRINK = 0.5                   # the central half of each patch is averaged
MCC_RETRY_SCALE = 0.6
MISDETECTED_DE = 20.0                # a "chart" whose patches even a 3x3 fit cannot bring below this is not the chart

TARGET_REAL_DE = 2.5
TARGET_GREY_PCT = 2.0
TARGET_SPECTRAL_DE = 2.0
TARGET_SPECTRAL_WORST = 6.0

CAMERAS = ("Nikon 5100 (NPL)", "Sigma SDMerill (NPL)")
ILLUMINANTS = {"A": "A", "D50": "D50", "D65": "D65", "F2": "FL2"}   # label: colour.SDS_ILLUMINANTS key
SEEDS_PER_CASE = {"full": 3, "quick": 1}
WHITE_EXPOSURE = 0.85
CARD_REFLECTANCE = 0.03
BACKDROP_REFLECTANCE = 0.18
IMAGE_SIZE = (800, 600)
PATCH_PX, GAP_PX, CARD_MARGIN_PX = 60, 12, 18
CORNER_JITTER = 0.06
JPEG_QUALITY = 92
MCC_TOLERANCE = 0.2                  # share of a patch side: an mcc patch centre further off is elsewhere


@dataclass(frozen=True)
class RealPhoto:
    set: str
    path: str
    camera: str
    quick: bool = False   # also run by --quick (one photo per set)

    @property
    def design(self) -> bool:
        return self.set == "arcu_colorchecker"


MANIFEST: tuple[RealPhoto, ...] = tuple(
    [RealPhoto("arcu_colorchecker", f"example_imgs/color_checker ({i}).jpg", "phone", i == 1) for i in range(1, 11)]
    + [RealPhoto("ColorChecker", f"src/seedcounter/examples/seed_dataset_clustering/{p}", "DSLR", quick)
       for p, quick in (("CAMERA1/class1_class2_class3_class4_exp1_cc_1.jpg", False),
                        ("CAMERA2/class1_class4_exp1_cc_1.jpg", True))]
    + [RealPhoto("ColorcheckerCalibration", f"data/mindvision/{name}.jpg", f"MindVision industrial, {light}",
                 name == "d65_colorchecker")
       for name, light in (("d65_colorchecker", "D65"), ("CWF_colorchecker", "CWF"), ("TL84_colorchecker", "TL84"),
                           ("exposure30", "exposure 30"))]
    + [RealPhoto("python-macduff-colorchecker-detector", "examples/below_fishbox.jpg", "Passport, shade", True)]
    + [RealPhoto("opencv-mcc-cc-test", f"build/{i}.png", "phone 640x480", i == 1) for i in range(1, 5)])


def _colour():
    # colour-science warns about matplotlib, and sd_to_XYZ about trimming spectra to the CMFs' range
    warnings.filterwarnings("ignore", module=r"colour\.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    return colour


# ----------------------------------------------------------------------------- colorimetry

def srgb_decode(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB values (0..1) to linear."""
    v = np.asarray(v, float)
    return np.where(v <= 0.04045, v / 12.92, ((np.clip(v, 0.04045, None) + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    """Linear to IEC 61966-2-1 sRGB values (0..1)."""
    v = np.clip(np.asarray(v, float), 0, 1)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(np.clip(v, 0.0031308, None), 1 / 2.4) - 0.055)


def d50_xy() -> np.ndarray:
    return np.asarray(_colour().CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D50"], float)


def lab_d50(linear_srgb: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D50) of linear sRGB, adapted from D65 with the Bradford transform."""
    colour = _colour()
    xyz = colour.RGB_to_XYZ(np.asarray(linear_srgb, float), colour.RGB_COLOURSPACES["sRGB"], illuminant=d50_xy(),
                            chromatic_adaptation_transform="Bradford", apply_cctf_decoding=False)
    return colour.XYZ_to_Lab(xyz, d50_xy())


def delta_e00(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    return np.asarray(_colour().delta_E(lab_a, lab_b, method="CIE 2000"), float)


@dataclass(frozen=True)
class Reference:
    name: str
    lab: np.ndarray      # (24, 3) L*a*b* D50
    linear: np.ndarray   # (24, 3) linear sRGB (Bradford from D50)


def _reference_from_xyz(name: str, xyz: np.ndarray) -> Reference:
    colour = _colour()
    linear = colour.XYZ_to_RGB(xyz, colour.RGB_COLOURSPACES["sRGB"], illuminant=d50_xy(),
                               chromatic_adaptation_transform="Bradford", apply_cctf_encoding=False)
    return Reference(name, colour.XYZ_to_Lab(xyz, d50_xy()), np.asarray(linear, float))


@lru_cache(maxsize=None)
def xrite_reference() -> Reference:
    """X-Rite's post-November-2014 ColorChecker Classic (xyY under D50)."""
    colour = _colour()
    chart = colour.CCS_COLOURCHECKERS[XRITE]
    return _reference_from_xyz(XRITE, colour.xyY_to_XYZ(np.array(list(chart.data.values()), float)))


@lru_cache(maxsize=None)
def babel_reference() -> Reference:
    """The BabelColor Average spectra under D50 (CIE 1931 2 deg)."""
    colour = _colour()
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"]
    d50 = colour.SDS_ILLUMINANTS["D50"]
    xyz = np.array([colour.sd_to_XYZ(sd, cmfs, illuminant=d50) / 100
                    for sd in colour.SDS_COLOURCHECKERS[BABEL].values()])
    return _reference_from_xyz(BABEL, xyz)


# ----------------------------------------------------------------------------- chart reading

def _mcc(bgr: np.ndarray) -> np.ndarray | None:
    det = cv2.mcc.CCheckerDetector_create()
    det.setColorChartType(cv2.mcc.MCC24)
    if not det.process(bgr, 1):
        return None
    checker = det.getBestColorChecker()
    if checker is None:
        return None
    return np.asarray(checker.getColorCharts(), float).reshape(24, 4, 2)


def detect_chart(bgr: np.ndarray) -> np.ndarray | None:
    """``(24, 4, 2)`` patch quads (row-major from dark skin) found by OpenCV mcc, or None."""
    quads = _mcc(bgr)
    if quads is None:
        small = cv2.resize(bgr, None, fx=MCC_RETRY_SCALE, fy=MCC_RETRY_SCALE, interpolation=cv2.INTER_AREA)
        quads = _mcc(small)
        if quads is not None:
            quads = quads / MCC_RETRY_SCALE
    return quads


def patch_means(rgb: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """``(24, 3)`` mean encoded values (0..1) over the central half of each patch quad."""
    values = rgb.astype(float) / (65535.0 if rgb.dtype == np.uint16 else 255.0)
    means = np.full((len(quads), 3), np.nan)
    mask = np.zeros(rgb.shape[:2], np.uint8)
    for i, quad in enumerate(quads):
        centre = quad.mean(axis=0)
        inner = centre + (1 - PATCH_SHRINK) * (quad - centre)
        mask[:] = 0
        cv2.fillPoly(mask, [np.round(inner).astype(np.int32)], 1)
        if mask.any():
            means[i] = values[mask > 0].mean(axis=0)
    return means


def read_rgb(path: Path) -> np.ndarray:
    """RGB of an image file (8 or 16 bit as stored, EXIF orientation applied, alpha dropped)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return np.ascontiguousarray(bgr[..., ::-1])


def _bgr8(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype == np.uint16:
        rgb = (rgb / 257.0).round().astype(np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1])


def grey_spread_pct(linear: np.ndarray, ref: Reference) -> float:
    """Max over the neutrals (black excluded) of the channel spread of ``linear / reference``, in %."""
    spreads = []
    for i in NEUTRALS:
        if ref.linear[i].min() <= GREY_MIN_LINEAR:
            continue
        ratio = linear[i] / ref.linear[i]
        spreads.append(100.0 * (ratio.max() - ratio.min()) / max(ratio.mean(), 1e-9))
    return float(max(spreads))


def score(linear: np.ndarray, ref: Reference) -> dict[str, Any]:
    """ΔE00 of linear sRGB patch values against the reference, and the grey spread."""
    de = delta_e00(lab_d50(linear), ref.lab)
    return {"mean": float(de.mean()), "worst": float(de.max()), "worst_patch": int(de.argmax()),
            "grey_pct": grey_spread_pct(linear, ref), "per_patch": de.round(3).tolist()}


def plain_3x3(linear: np.ndarray, ref: Reference) -> float:
    """Mean ΔE00 of an unweighted 3x3 least-squares fit of the patches onto the reference (in sample)."""
    matrix = np.linalg.lstsq(linear, ref.linear, rcond=None)[0]
    return float(delta_e00(lab_d50(np.clip(linear @ matrix, 0, None)), ref.lab).mean())


def misdetection(linear: np.ndarray, before: float, fit_3x3: float) -> str | None:
    """Why a detected chart is not the chart, or None. The brief's rule ``before > 20`` alone would
    drop real but uncorrected photos (the MindVision frames read 30-35 before), so a chart is
    refused only when its grey row is not a falling ramp or even a 3x3 fit stays above 20."""
    luminance = linear[list(NEUTRALS)] @ np.array([0.2126, 0.7152, 0.0722])
    if np.any(np.diff(luminance) >= 0):
        return "mis-detection: grey row not falling white to black"
    if before > MISDETECTED_DE and fit_3x3 > MISDETECTED_DE:
        return f"mis-detection: before {before:.1f} and plain 3x3 {fit_3x3:.1f} > {MISDETECTED_DE:g}"
    return None


# ----------------------------------------------------------------------------- the CLI

def run_cli(photo: Path, out_png: Path, protocol: Path | None = None) -> tuple[int, dict | None, float, str]:
    """Exit code, parsed JSON (None if unparsable), seconds and stderr tail of ``photostation calibrate``."""
    cmd = [str(CLI), "calibrate", str(photo), "--out", str(out_png), "--json"]
    if protocol is not None:
        cmd += ["--protocol", str(protocol)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=out_png.parent, timeout=600)
    seconds = time.perf_counter() - started
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        report = None
    return proc.returncode, report, seconds, proc.stderr.strip()[-300:]


def tool_fields(report: dict | None) -> dict[str, Any]:
    """What the benchmark shows of the tool's own JSON (None where a field is absent)."""
    report = report or {}
    de = report.get("delta_e00") or {}
    flags = [f for f in report.get("flags") or [] if "withheld" in str(f).lower()]
    return {"tool_method": report.get("method"), "tool_linearisation": report.get("linearisation"),
            "tool_correction": report.get("correction"), "tool_after_mean": de.get("after_mean"),
            "tool_before_mean": de.get("before_mean"), "tool_expected_mean": de.get("expected_mean"),
            "tool_withheld": flags, "tool_verdict": report.get("verdict")}


def measure_photo(photo: Path, ref: Reference, work: Path, protocol: Path | None = None,
                  truth: np.ndarray | None = None) -> dict[str, Any]:
    """Run the CLI on ``photo`` and measure original and corrected photo independently.

    ``truth``: the true patch quads of a render; an mcc detection that disagrees with it is
    recorded and the truth used instead."""
    row: dict[str, Any] = {"status": "measured", "reason": None}
    rgb = read_rgb(photo)
    quads = detect_chart(_bgr8(rgb))
    row["mcc_original"] = _detection_state(quads, truth)
    if truth is not None and row["mcc_original"] != "ok":
        quads = truth
    out_png = work / "corrected.png"
    code, report, seconds, stderr = run_cli(photo, out_png, protocol)
    row |= {"exit": code, "cli_s": round(seconds, 2)} | tool_fields(report)
    if report is None:
        row["cli_stderr"] = stderr
    if quads is None:
        row |= {"status": "not measured", "reason": "mcc finds no chart on the original"}
        return row
    before_linear = srgb_decode(patch_means(rgb, quads))
    before = score(before_linear, ref)
    row |= {"before": before["mean"], "before_worst": before["worst"], "before_grey_pct": before["grey_pct"],
            "plain_3x3": plain_3x3(before_linear, ref)}
    if truth is None:
        reason = misdetection(before_linear, before["mean"], row["plain_3x3"])
        if reason:
            row |= {"status": "not measured", "reason": reason}
            return row
    if not out_png.exists():
        row |= {"status": "no output", "reason": f"no corrected photo (exit {code})"}
        return row
    corrected = read_rgb(out_png)
    after_quads = detect_chart(_bgr8(corrected))
    row["mcc_corrected"] = _detection_state(after_quads, truth if truth is not None else quads)
    if row["mcc_corrected"] != "ok":
        if corrected.shape[:2] != rgb.shape[:2]:
            row |= {"status": "not measured", "reason": "mcc finds no chart on the corrected photo"}
            return row
        after_quads = quads    # the same geometry as the original (the correction does not move pixels)
    after = score(srgb_decode(patch_means(corrected, after_quads)), ref)
    row |= {"after": after["mean"], "worst": after["worst"], "worst_patch": after["worst_patch"],
            "grey_pct": after["grey_pct"], "after_per_patch": after["per_patch"]}
    return row


def _detection_state(quads: np.ndarray | None, expected: np.ndarray | None) -> str:
    if quads is None:
        return "missed"
    if expected is None:
        return "ok"
    offset = np.linalg.norm(quads.mean(axis=1) - expected.mean(axis=1), axis=1).max()
    side = np.linalg.norm(np.diff(expected, axis=1, append=expected[:, :1]), axis=2).mean()
    return "ok" if offset <= MCC_TOLERANCE * side else f"elsewhere ({offset:.0f} px)"


# ----------------------------------------------------------------------------- spectral renders

SHAPE_NM = (400, 700, 10)


def _aligned(sd):
    colour = _colour()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sd.copy().align(colour.SpectralShape(*SHAPE_NM))


@lru_cache(maxsize=None)
def _spectra() -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Reflectances ``(24, n)``, illuminants ``{label: (n,)}`` and cameras ``{name: (n, 3)}`` on 400-700 nm."""
    colour = _colour()
    reflectances = np.array([_aligned(sd).values for sd in colour.SDS_COLOURCHECKERS[BABEL].values()])
    illuminants = {label: _aligned(colour.SDS_ILLUMINANTS[key]).values for label, key in ILLUMINANTS.items()}
    cameras = {name: _aligned(colour.MSDS_CAMERA_SENSITIVITIES[name]).values for name in CAMERAS}
    return reflectances, illuminants, cameras


def _raw(camera: np.ndarray, illuminant: np.ndarray, reflectance: np.ndarray) -> np.ndarray:
    return (reflectance * illuminant) @ camera * SHAPE_NM[2]


@lru_cache(maxsize=None)
def _reference_d65_linear() -> np.ndarray:
    """Linear sRGB of the BabelColor patches lit by D65 (no adaptation: sRGB's white is D65)."""
    colour = _colour()
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"]
    d65 = colour.SDS_ILLUMINANTS["D65"]
    xyz = np.array([colour.sd_to_XYZ(sd, cmfs, illuminant=d65) / 100
                    for sd in colour.SDS_COLOURCHECKERS[BABEL].values()])
    return np.asarray(colour.XYZ_to_RGB(xyz, colour.RGB_COLOURSPACES["sRGB"], apply_cctf_encoding=False), float)


@lru_cache(maxsize=None)
def camera_model(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Daylight white-balance gains ``(3,)`` and camera matrix ``(3, 3)`` (row vectors: ``rgb @ M``)."""
    reflectances, illuminants, cameras = _spectra()
    raw = _raw(cameras[name], illuminants["D65"], reflectances)
    gains = raw[18, 1] / raw[18]
    matrix = np.linalg.lstsq(raw * gains, _reference_d65_linear(), rcond=None)[0]
    return gains, matrix


def camera_linear(name: str, illuminant: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera linear RGB (before the tone curve) of the 24 patches, the black card and the backdrop."""
    reflectances, illuminants, cameras = _spectra()
    gains, matrix = camera_model(name)
    flat = np.ones((2, reflectances.shape[1])) * np.array([[CARD_REFLECTANCE], [BACKDROP_REFLECTANCE]])
    rgb = (_raw(cameras[name], illuminants[illuminant], np.vstack([reflectances, flat])) * gains) @ matrix
    rgb *= WHITE_EXPOSURE / rgb[18].max()
    return rgb[:24], rgb[24], rgb[25]


def camera_tone(x: np.ndarray) -> np.ndarray:
    """A camera's tone curve: the sRGB OETF, then a mild S-curve (more contrast in the mid-tones,
    end points kept; monotone, see :func:`tone_is_monotone`)."""
    y = srgb_encode(x)
    return y + 0.08 * np.sin(np.pi * y) * (y - 0.5)


def tone_is_monotone(curve=camera_tone) -> bool:
    return bool(np.all(np.diff(curve(np.linspace(0, 1, 4001))) > 0))


def chart_quads(size: tuple[int, int] = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Patch quads ``(24, 4, 2)`` (row-major, clockwise from top left) and card corners ``(4, 2)``
    of the flat drawing."""
    width, height = size
    chart_w, chart_h = 6 * PATCH_PX + 5 * GAP_PX, 4 * PATCH_PX + 3 * GAP_PX
    x0, y0 = (width - chart_w) / 2, (height - chart_h) / 2
    quads = []
    for row in range(4):
        for col in range(6):
            x, y = x0 + col * (PATCH_PX + GAP_PX), y0 + row * (PATCH_PX + GAP_PX)
            quads.append([(x, y), (x + PATCH_PX, y), (x + PATCH_PX, y + PATCH_PX), (x, y + PATCH_PX)])
    m = CARD_MARGIN_PX
    card = np.array([(x0 - m, y0 - m), (x0 + chart_w + m, y0 - m), (x0 + chart_w + m, y0 + chart_h + m),
                     (x0 - m, y0 + chart_h + m)], float)
    return np.array(quads, float), card


def render_chart(patches: np.ndarray, card: np.ndarray, backdrop: np.ndarray, path: Path, seed: int, *,
                 noise: bool = True, tone=camera_tone) -> np.ndarray:
    """Draw the chart in linear light, warp, blur, add noise, apply ``tone``, save a JPEG; the true quads."""
    rng = np.random.default_rng(seed)
    width, height = IMAGE_SIZE
    quads, card_corners = chart_quads()
    image = np.empty((height, width, 3), np.float32)
    image[:] = backdrop
    cv2.fillPoly(image, [np.round(card_corners).astype(np.int32)], card.tolist())
    for quad, value in zip(quads, patches):
        x0, y0 = quad[0].astype(int)
        image[y0:y0 + PATCH_PX, x0:x0 + PATCH_PX] = value
    size = card_corners[2] - card_corners[0]
    moved = card_corners + rng.uniform(-CORNER_JITTER, CORNER_JITTER, (4, 2)) * size
    homography = cv2.getPerspectiveTransform(card_corners.astype(np.float32), moved.astype(np.float32))
    image = cv2.warpPerspective(image, homography, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=backdrop.tolist())
    image = cv2.GaussianBlur(image, (0, 0), 1.0).astype(float)
    if noise:
        sigma = np.sqrt(0.0002 * np.clip(image, 0, None)) + 0.002
        image = image + rng.standard_normal(image.shape) * sigma
    encoded = np.clip(tone(np.clip(image, 0, 1)), 0, 1)
    Image.fromarray(np.round(encoded * 255).astype(np.uint8)).save(path, quality=JPEG_QUALITY)
    warped = cv2.perspectiveTransform(quads.reshape(-1, 1, 2).astype(np.float32), homography)
    return warped.reshape(24, 4, 2).astype(float)


def colorimetric_patches() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A perfectly colorimetric camera: the reference linear sRGB itself, and flat card and backdrop."""
    ref = babel_reference()
    white = ref.linear[18].mean() / 0.9
    return ref.linear, np.full(3, CARD_REFLECTANCE * white), np.full(3, BACKDROP_REFLECTANCE * white)


# ----------------------------------------------------------------------------- jobs

def _real_job(args: tuple[str, str, str]) -> dict[str, Any]:
    root, set_name, rel = args
    photo = Path(root) / set_name / rel
    with tempfile.TemporaryDirectory(prefix="photostation-colour-") as work:
        row = measure_photo(photo, xrite_reference(), Path(work))
    return {"set": set_name, "file": rel} | row


def _spectral_job(args: tuple[str, str, int, str]) -> dict[str, Any]:
    camera, illuminant, seed, protocol = args
    with tempfile.TemporaryDirectory(prefix="photostation-colour-") as work:
        photo = Path(work) / "render.jpg"
        truth = render_chart(*camera_linear(camera, illuminant), photo, seed)
        row = measure_photo(photo, babel_reference(), Path(work), Path(protocol), truth=truth)
    return {"camera": camera, "illuminant": illuminant, "seed": seed} | row


def _job(job: tuple) -> dict[str, Any]:
    kind, args = job
    return _real_job(args) if kind == "real" else _spectral_job(args)


def run_jobs(jobs: list[tuple], workers: int) -> list[dict[str, Any]]:
    """Every photo of both parts in one pool (so neither part leaves a core idle), in order."""
    if workers <= 1 or len(jobs) <= 1:
        return [_job(j) for j in jobs]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_job, jobs))


def babel_protocol(folder: Path) -> Path:
    """The shipped protocol with ``calibration.colorchecker_reference`` set to BabelColor Average."""
    lines = PROTOCOL.read_text().splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.strip().startswith("colorchecker_reference")]
    if len(hits) != 1:
        raise SystemExit("colour_correction: cannot find calibration.colorchecker_reference in the shipped protocol")
    lines[hits[0]] = f'colorchecker_reference = "{BABEL}"\n'
    path = folder / "protocol_babelcolor.toml"
    path.write_text("".join(lines))
    return path


# ----------------------------------------------------------------------------- printing

def _f(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "missed")


def real_jobs(quick: bool) -> tuple[list[tuple], list[RealPhoto], list[str]]:
    """The jobs of the real photos that are there, those photos, and "skipped: ..." lines."""
    root = realsets_root()
    if root is None:
        return [], [], ["skipped: real photos: set PHOTOSTATION_REALSETS to the folder holding the chart photo sets "
                        "(see this script's docstring; they are not shipped: they state no licence)"]
    present, missing = [], []
    for photo in (p for p in MANIFEST if p.quick or not quick):
        (present if (root / photo.set / photo.path).is_file() else missing).append(photo)
    skipped = [f"skipped: {name}: {sum(p.set == name for p in missing)} file(s) not found under {root / name} "
               "(fetch the repository and copy the listed files)" for name in sorted({p.set for p in missing})]
    return [("real", (str(root), p.set, p.path)) for p in present], present, skipped


def real_part(present: list[RealPhoto], rows: list[dict[str, Any]], skipped: list[str]) -> dict[str, Any]:
    """Print the table and summary of the real photos; the results."""
    for line in skipped:
        print(line)
    if not present:
        return {"skipped": skipped}
    for photo, row in zip(present, rows):
        row |= {"camera": photo.camera, "design": photo.design}
    print("\n## Real ColorChecker photos (X-Rite 2014 reference, D50)\n")
    print("| set | file | before | after | worst | grey % | 3x3 | method | expected | tool after | exit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        tag = " (design)" if row["design"] else ""
        if row["status"] != "measured":
            print(f"| {row['set']}{tag} | {Path(row['file']).name} | {_f(row.get('before'))} | not measured: "
                  f"{row['reason']} | | | {_f(row.get('plain_3x3'))} | {row['tool_method'] or '-'} | "
                  f"{_f(row['tool_expected_mean'])} | {_f(row['tool_after_mean'])} | {row['exit']} |")
            continue
        print(f"| {row['set']}{tag} | {Path(row['file']).name} | {row['before']:.2f} | {row['after']:.2f} | "
              f"{row['worst']:.2f} | {row['grey_pct']:.1f} | {row['plain_3x3']:.2f} | {row['tool_method'] or '-'} "
              f"({row['tool_linearisation'] or '-'}) | {_f(row['tool_expected_mean'])} | "
              f"{_f(row['tool_after_mean'])} | {row['exit']} |")
    summary = {}
    for group, design in (("report", False), ("design", True)):
        group_rows = [r for r in rows if r["design"] == design]
        measured = [r for r in group_rows if r["status"] == "measured"]
        grey_ok = [r["grey_pct"] <= TARGET_GREY_PCT for r in measured]
        summary[group] = {
            "photos": len(group_rows), "measured": len(measured), "not_measured": len(group_rows) - len(measured),
            "before_mean": _mean([r["before"] for r in measured]), "after_mean": _mean([r["after"] for r in measured]),
            "plain_3x3_mean": _mean([r["plain_3x3"] for r in measured]),
            "worst_mean": _mean([r["worst"] for r in measured]),
            "worst_max": max((r["worst"] for r in measured), default=None),
            "grey_within_2pct_share": (float(np.mean(grey_ok)) if grey_ok else None),
            "tool_expected_mean": _mean([r["tool_expected_mean"] for r in measured]),
            "no_output": sum(r["status"] == "no output" for r in group_rows),
            "withheld": sum(bool(r["tool_withheld"]) for r in group_rows)}
    report = summary["report"]
    targets = {"real mean dE00 <= 2.5": (None if report["after_mean"] is None
                                         else report["after_mean"] <= TARGET_REAL_DE),
               "real greys within 2 %": (None if report["grey_within_2pct_share"] is None
                                         else report["grey_within_2pct_share"] == 1.0)}
    print()
    for group in ("report", "design"):
        s = summary[group]
        print(f"{group} set: {s['measured']} of {s['photos']} photos measured ({s['not_measured']} not measured); "
              f"mean dE00 before {_f(s['before_mean'])}, after {_f(s['after_mean'])} (plain 3x3 "
              f"{_f(s['plain_3x3_mean'])}, tool's expected {_f(s['tool_expected_mean'])}); mean worst patch "
              f"{_f(s['worst_mean'])}, max {_f(s['worst_max'])}; greys within 2 %: "
              f"{_f(s['grey_within_2pct_share'], '{:.0%}')}; corrections withheld: {s['withheld']}; "
              f"no corrected photo: {s['no_output']}")
    moved = sum(r.get("mcc_corrected", "ok") != "ok" for r in rows if r["status"] == "measured")
    print(f"mcc on the corrected photo missed or moved a patch > {MCC_TOLERANCE:.0%} of its side from the original's "
          f"detection on {moved} photo(s): the original's geometry was used")
    print(f"target mean dE00 <= {TARGET_REAL_DE} (report set): {_met(targets['real mean dE00 <= 2.5'])}")
    print(f"greys within {TARGET_GREY_PCT:g} % (report set): {_met(targets['real greys within 2 %'])}")
    return {"rows": rows, "summary": summary, "targets": targets, "skipped": skipped}


def spectral_jobs(quick: bool, seed: int, protocol: Path) -> list[tuple]:
    if not tone_is_monotone():
        raise SystemExit("colour_correction: the camera tone curve is not monotone")
    n = SEEDS_PER_CASE["quick" if quick else "full"]
    rng = np.random.default_rng(seed)
    return [("spectral", (camera, illuminant, int(rng.integers(2**31 - 1)), str(protocol)))
            for camera in CAMERAS for illuminant in ILLUMINANTS for _ in range(n)]


def spectral_part(rows: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Print the table and summary of the spectral renders; the results."""
    print(f"\n## Spectral renders (BabelColor Average, D50 reference; {n} render(s) per case)\n")
    print("| camera | illuminant | before | after | worst | grey % | 3x3 | method | expected | tool after | exit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    cases = []
    for camera in CAMERAS:
        for illuminant in ILLUMINANTS:
            case_rows = [r for r in rows if r["camera"] == camera and r["illuminant"] == illuminant]
            measured = [r for r in case_rows if r["status"] == "measured"]
            methods = sorted({f"{r['tool_method']} ({r['tool_linearisation'] or '-'})" for r in case_rows})
            case = {"camera": camera, "illuminant": illuminant, "renders": len(case_rows), "measured": len(measured),
                    "before": _mean([r["before"] for r in measured]), "after": _mean([r["after"] for r in measured]),
                    "worst": max((r["worst"] for r in measured), default=None),
                    "grey_pct": max((r["grey_pct"] for r in measured), default=None),
                    "plain_3x3": _mean([r["plain_3x3"] for r in measured]),
                    "methods": methods, "tool_expected_mean": _mean([r["tool_expected_mean"] for r in case_rows]),
                    "tool_after_mean": _mean([r["tool_after_mean"] for r in case_rows]),
                    "exits": sorted({r["exit"] for r in case_rows}),
                    "mcc_not_ok": sum(r.get("mcc_original") != "ok" or r.get("mcc_corrected", "ok") != "ok"
                                      for r in case_rows)}
            cases.append(case)
            print(f"| {camera.split(' (')[0]} | {illuminant} | {_f(case['before'])} | {_f(case['after'])} | "
                  f"{_f(case['worst'])} | {_f(case['grey_pct'], '{:.1f}')} | {_f(case['plain_3x3'])} | "
                  f"{', '.join(methods)} | {_f(case['tool_expected_mean'])} | {_f(case['tool_after_mean'])} | "
                  f"{','.join(map(str, case['exits']))} |")
    per_illuminant = {}
    for illuminant in ILLUMINANTS:
        measured = [r for r in rows if r["illuminant"] == illuminant and r["status"] == "measured"]
        per_illuminant[illuminant] = {"after_mean": _mean([r["after"] for r in measured]),
                                      "worst": max((r["worst"] for r in measured), default=None),
                                      "measured": len(measured)}
    afters = [v["after_mean"] for v in per_illuminant.values()]
    worsts = [v["worst"] for v in per_illuminant.values()]
    targets = {"spectral mean dE00 <= 2.0 under every illuminant":
               None if None in afters else all(a <= TARGET_SPECTRAL_DE for a in afters),
               "spectral worst patch <= 6": None if None in worsts else all(w <= TARGET_SPECTRAL_WORST for w in worsts)}
    not_ok = sum(c["mcc_not_ok"] for c in cases)
    print()
    print("per illuminant (both cameras): " + "; ".join(
        f"{k} mean {_f(v['after_mean'])}, worst patch {_f(v['worst'])}" for k, v in per_illuminant.items()))
    unmeasured = len(rows) - sum(r["status"] == "measured" for r in rows)
    print(f"renders: {len(rows)}, not measured {unmeasured}; mcc missed or misplaced the chart on {not_ok} "
          "(the true patch positions were used)")
    print(f"target mean dE00 <= {TARGET_SPECTRAL_DE} under every illuminant: "
          f"{_met(targets['spectral mean dE00 <= 2.0 under every illuminant'])}")
    print(f"worst patch <= {TARGET_SPECTRAL_WORST:g}: {_met(targets['spectral worst patch <= 6'])}")
    return {"rows": rows, "cases": cases, "per_illuminant": per_illuminant, "targets": targets}


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__.split("\n")[0], DEFAULT_OUT, keep=False,
                              quick="one real photo per set, one render per camera and illuminant "
                                    f"instead of {SEEDS_PER_CASE['full']}",
                              jobs="photos calibrated in parallel (default 2)")
    parser.add_argument("--part", choices=("real", "spectral"), default=None, help="one part only (default both)")
    args = parser.parse_args(argv)
    if not CLI.exists():
        print(f"colour_correction: {CLI} not found (install the project into its virtualenv)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    mode = "quick" if args.quick else "full"
    print(f"colour correction ({mode}, seed {args.seed}, {args.jobs} process(es)): photostation calibrate measured "
          "from outside (OpenCV mcc, colour-science CIEDE2000)")
    results: dict[str, Any] = {"benchmark": "colour_correction", "mode": mode, "seed": args.seed,
                               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                               "commit": git_commit(), "targets": {}}
    jobs: list[tuple] = []
    present: list[RealPhoto] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="photostation-colour-") as folder:
        if args.part in (None, "real"):
            jobs, present, skipped = real_jobs(args.quick)
        n_real = len(jobs)
        if args.part in (None, "spectral"):
            jobs += spectral_jobs(args.quick, args.seed, babel_protocol(Path(folder)))
        rows = run_jobs(jobs, args.jobs)
    if args.part in (None, "real"):
        results["real"] = real_part(present, rows[:n_real], skipped)
        results["targets"] |= results["real"].get("targets", {})
    if args.part in (None, "spectral"):
        results["spectral"] = spectral_part(rows[n_real:], SEEDS_PER_CASE[mode])
        results["targets"] |= results["spectral"]["targets"]
    results["cli_seconds"] = {"sum": round(sum(r["cli_s"] for r in rows), 1),
                              "max": max((r["cli_s"] for r in rows), default=None)}
    results["runtime_s"] = round(time.perf_counter() - started, 1)
    print(f"\nruntime {results['runtime_s']:.0f} s")
    write_results(args.out, results)
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
