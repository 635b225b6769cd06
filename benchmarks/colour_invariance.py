"""Colour-correction invariance on real chart photos: the same photo re-exposed,
re-white-balanced, recompressed, rotated or rescaled must come out the same colours.

No labels are needed: a correction fitted on the card absorbs exposure and white balance,
and geometry or JPEG re-encoding must not move it. For each real ColorChecker photo of
``benchmarks/colour_correction.py``'s manifest (read from ``$PHOTOSTATION_REALSETS``; see
there where they come from), each variant is calibrated with
:func:`photostation.calibrate.calibrate_image` and its corrected patch colours are compared
with those of the original photo (CIEDE2000 per patch, patches usable in both). Also
reported: whether the chosen model and linearisation stayed the same, and the variant's
expected (cross-validated) error against the original's.

Variants (applied to the decoded photo):

- ``exposure -0.5 EV`` / ``+0.5 EV``: linear light scaled by 0.71 / 1.41 (clipping kept).
- ``white balance``: linear gains 1.15, 1.0, 0.80 (a warmer light).
- ``jpeg q70``: re-encoded at quality 70.
- ``rotate 90`` / ``rotate 180``.
- ``half size``: resized to 50 % (area interpolation).

Photos on which the original's expected error exceeds ``NOT_A_CHART_DE`` are listed as not
measured: OpenCV's detector found a grid that is not the chart.

Target: mean ΔE00 between a variant's and the original's corrected patches below the
original's expected error (the difference is within what the tool says it does not know).

Run ``PHOTOSTATION_REALSETS=... .venv/bin/python benchmarks/colour_invariance.py [--out FILE]``.
Without ``$PHOTOSTATION_REALSETS`` it prints why and exits 0.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from benchmarks.records import write_results  # noqa: E402
from benchmarks.realsets import realsets_root  # noqa: E402
from calibration.colorimetry import delta_e2000, lab_d50_from_linear_srgb  # noqa: E402
from photostation.calibrate import calibrate_image  # noqa: E402
from photostation.imaging import decode, read_bytes  # noqa: E402
from photostation.protocol import load_protocol  # noqa: E402
from photostation.synthetic.camera import srgb_decode, srgb_encode  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "colour_invariance.json"
NOT_A_CHART_DE = 10.0
"""An original whose best model still misses held-out patches by more than this is a
mis-detection (mcc found a chart-like grid that is not the chart): nothing to compare."""


def _gains(rgb: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    return srgb_encode(srgb_decode(rgb) * np.asarray(gains))


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buffer, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


VARIANTS = {
    "exposure -0.5 EV": lambda rgb: _gains(rgb, (2 ** -0.5,) * 3),
    "exposure +0.5 EV": lambda rgb: _gains(rgb, (2 ** 0.5,) * 3),
    "white balance": lambda rgb: _gains(rgb, (1.15, 1.0, 0.80)),
    "jpeg q70": lambda rgb: _jpeg(rgb, 70),
    "rotate 90": lambda rgb: np.ascontiguousarray(np.rot90(rgb)),
    "rotate 180": lambda rgb: np.ascontiguousarray(np.rot90(rgb, 2)),
    "half size": lambda rgb: cv2.resize(rgb, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
}


def _corrected(rgb: np.ndarray, protocol) -> tuple[np.ndarray | None, np.ndarray | None, dict]:
    report = calibrate_image(rgb, None, protocol)
    data = report.to_json()
    if report.corrected_patches is None:
        return None, None, data
    return report.corrected_patches, report.readings.valid, data


def measure_photo(path: Path, protocol) -> list[dict]:
    rgb = decode(read_bytes(path), str(path), max_side=2000)
    base, base_valid, base_data = _corrected(rgb, protocol)
    rows = []
    if base is None:
        return [{"photo": path.name, "variant": "original", "note": "no correction fitted"}]
    expected = base_data["delta_e00"]["expected_mean"]
    if expected is None or expected > NOT_A_CHART_DE:
        return [{"photo": path.name, "variant": "original",
                 "note": f"not measured: expected error {expected} (the detected 'chart' is not the chart)"}]
    for name, transform in VARIANTS.items():
        patches, valid, data = _corrected(transform(rgb), protocol)
        row = {"photo": path.name, "variant": name, "expected_mean": expected,
               "variant_expected_mean": data["delta_e00"]["expected_mean"],
               "same_model": (data["method"], data["linearisation"]) == (base_data["method"],
                                                                         base_data["linearisation"])}
        if patches is None:
            row["note"] = "no correction fitted on the variant"
        else:
            both = base_valid & valid
            de = delta_e2000(lab_d50_from_linear_srgb(patches[both]), lab_d50_from_linear_srgb(base[both]))
            row |= {"patches": int(both.sum()), "mean_de00": round(float(de.mean()), 3),
                    "max_de00": round(float(de.max()), 3),
                    "within_expected": bool(expected is not None and de.mean() <= expected)}
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    root = realsets_root()
    if root is None:
        print("skipped: set PHOTOSTATION_REALSETS to the folder holding the real ColorChecker photos "
              "(see benchmarks/colour_correction.py; they are not shipped: they state no licence)")
        return 0
    from benchmarks.colour_correction import MANIFEST  # the real chart photos and where they come from

    photos = [root / photo.set / photo.path for photo in MANIFEST if (root / photo.set / photo.path).is_file()]
    if not photos:
        print(f"skipped: none of the real ColorChecker photos is under {root}")
        return 0
    protocol = load_protocol()
    rows: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in photos:
            rows.extend(measure_photo(path, protocol))
    print(f"{'photo':34s} {'variant':18s} {'mean dE':>8s} {'max dE':>7s} {'expected':>8s} {'same model':>10s}")
    for r in rows:
        if "mean_de00" in r:
            print(f"{r['photo'][:34]:34s} {r['variant']:18s} {r['mean_de00']:8.2f} {r['max_de00']:7.2f} "
                  f"{r['expected_mean'] or float('nan'):8.2f} {'yes' if r['same_model'] else 'no':>10s}")
        else:
            print(f"{r['photo'][:34]:34s} {r['variant']:18s} {r.get('note')}")
    measured = [r for r in rows if "mean_de00" in r]
    summary = {}
    print()
    for name in VARIANTS:
        of = [r for r in measured if r["variant"] == name]
        if of:
            summary[name] = {"photos": len(of), "mean_de00": round(float(np.mean([r["mean_de00"] for r in of])), 3),
                             "worst_mean_de00": round(float(max(r["mean_de00"] for r in of)), 3),
                             "within_expected": sum(r["within_expected"] for r in of),
                             "same_model": sum(r["same_model"] for r in of)}
            s = summary[name]
            print(f"{name:18s}: mean ΔE00 {s['mean_de00']:.2f} (worst photo {s['worst_mean_de00']:.2f}), within the "
                  f"expected error {s['within_expected']}/{s['photos']}, same model {s['same_model']}/{s['photos']}")
    within = sum(r["within_expected"] for r in measured)
    print(f"target: variant within the original's expected error: {within}/{len(measured)} "
          f"({'met' if within == len(measured) else 'missed'})")
    write_results(args.out, {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "rows": rows,
                             "summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
