"""The colour-correction benchmark's own measurement (benchmarks/colour_correction.py), which
must not lean on photostation: a render of a perfectly colorimetric camera reads as its
reference, the chart is found where it was drawn, and a wrong chart is told apart."""
from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import numpy as np

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "colour_correction.py"
_SPEC = importlib.util.spec_from_file_location("colour_correction_benchmark", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = bench
_SPEC.loader.exec_module(bench)


def test_colorimetric_render_reads_as_its_reference(tmp_path):
    # identity camera, no noise, plain sRGB OETF: only the JPEG and the 8 bits stand between
    # the drawn values and the reference
    path = tmp_path / "chart.jpg"
    truth = bench.render_chart(*bench.colorimetric_patches(), path, seed=3, noise=False, tone=bench.srgb_encode)
    rgb = bench.read_rgb(path)
    quads = bench.detect_chart(rgb[..., ::-1].copy())
    assert quads is not None
    assert bench._detection_state(quads, truth) == "ok"
    scored = bench.score(bench.srgb_decode(bench.patch_means(rgb, quads)), bench.babel_reference())
    assert scored["mean"] < 1.0
    assert scored["worst"] < 2.5
    # neutral 3.5 sits near code 84, where one 8-bit step of a JPEG's YCbCr is ~2.4 % in linear light
    assert scored["grey_pct"] < 5.0


def test_camera_render_is_off_before_correction_and_a_3x3_helps(tmp_path):
    # Nikon under tungsten with a daylight white balance: a strong cast the measurement must see
    path = tmp_path / "tungsten.jpg"
    truth = bench.render_chart(*bench.camera_linear("Nikon 5100 (NPL)", "A"), path, seed=1)
    assert bench.tone_is_monotone()
    ref = bench.babel_reference()
    linear = bench.srgb_decode(bench.patch_means(bench.read_rgb(path), truth))
    before = bench.score(linear, ref)
    assert before["mean"] > 10
    assert before["grey_pct"] > 20
    assert bench.plain_3x3(linear, ref) < before["mean"] / 3
    assert bench.misdetection(linear, before["mean"], bench.plain_3x3(linear, ref)) is None


def test_a_chart_that_is_not_the_chart_is_refused():
    ref = bench.xrite_reference()
    shuffled = ref.linear[np.random.default_rng(0).permutation(24)]
    before = bench.score(shuffled, ref)["mean"]
    assert bench.misdetection(shuffled, before, bench.plain_3x3(shuffled, ref)) is not None
    assert bench.misdetection(ref.linear * 0.5, 5.0, 0.5) is None
    assert bench.score(ref.linear, ref)["mean"] < 0.01


def test_babelcolor_protocol_changes_only_the_reference(tmp_path):
    shipped = tomllib.loads(bench.PROTOCOL.read_text())
    changed = tomllib.loads(bench.babel_protocol(tmp_path).read_text())
    assert changed["calibration"]["colorchecker_reference"] == "BabelColor Average"
    changed["calibration"]["colorchecker_reference"] = shipped["calibration"]["colorchecker_reference"]
    assert changed == shipped
