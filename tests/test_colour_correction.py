"""Colour correction that holds off our renderer (issue 18): the camera's tone curve read off
the grey ramp, the model chosen by leave-one-patch-out cross-validation, greys kept neutral,
and no correction when none predicts better than the photo as it is.

Accuracy on real chart photos and independent spectral renders is measured by
benchmarks/colour_correction.py; these tests pin the behaviour on patch data whose truth is
known exactly."""
from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pytest

from calibration.ccm import apply_correction, choose_correction, fit_correction
from calibration.colorimetry import delta_e2000, lab_d50_from_linear_srgb
from calibration.reference import colorchecker24
from calibration.tone_curve import ToneCurve, apply_tone_curve, fit_tone_curve
from photostation.ledger import StationProfile, open_ledger
from photostation.stations import save_profile, select_profile

CHART = colorchecker24()
REFERENCE = CHART.linear_srgb
NEUTRAL = np.isin(np.arange(24), CHART.neutrals)
CAMERA = np.array([[0.80, 0.15, 0.05], [0.10, 0.85, 0.05], [0.02, 0.18, 0.80]])
"""A camera whose channels overlap (every real sensor's do): a 3x3 undoes it exactly."""


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return delta_e2000(lab_d50_from_linear_srgb(np.clip(a, 0, 1)), lab_d50_from_linear_srgb(b))


def camera_jpeg_values(linear_scene: np.ndarray, exponent=(0.6, 0.7, 0.8)) -> np.ndarray:
    """What an sRGB decoder reads from a camera whose tone curve is not sRGB: a power per
    channel (an industrial camera writing nearly linear data reads much darker)."""
    return np.power(np.clip(linear_scene @ CAMERA.T, 0, None), 1 / np.asarray(exponent))


def test_tone_curve_recovers_a_known_camera_curve():
    greys = REFERENCE[NEUTRAL]
    luminance = greys @ [0.2126, 0.7152, 0.0722]
    measured = np.power(luminance, 1.6)[:, None] * [0.9, 1.0, 0.7]  # darker and bluer than sRGB
    curve = fit_tone_curve(measured, greys)
    # Through every grey: each channel comes out at the grey's luminance.
    assert np.allclose(apply_tone_curve(measured, curve), luminance[:, None], rtol=1e-4)
    # Between the greys the power law is recovered (PCHIP through a power law in log-log is exact
    # up to the interpolant's shape), and the curve keeps the order of tones.
    levels = np.geomspace(luminance.min(), luminance.max(), 50)
    between = np.power(levels, 1.6)[:, None] * [0.9, 1.0, 0.7]
    out = apply_tone_curve(between, curve)
    assert np.allclose(out, levels[:, None], rtol=0.03)
    assert (np.diff(out, axis=0) > 0).all()


def test_whole_photo_table_matches_the_exact_curve():
    greys = REFERENCE[NEUTRAL]
    curve = fit_tone_curve(np.power(greys, 0.8) * 1.1, greys)
    photo = np.random.default_rng(0).uniform(0, 1.2, (200, 100, 3)).astype(np.float32)
    exact = np.stack([apply_tone_curve(row, curve) for row in photo])  # small arrays: exact path
    tabled = apply_tone_curve(photo, curve)  # 20,000 pixels: the lookup table
    inside = photo > 2e-3
    assert np.allclose(tabled[inside], exact[inside], rtol=2e-3)
    assert (apply_tone_curve(np.zeros((5000, 3)), curve) == 0).all()


def test_tone_curve_json_round_trip():
    greys = REFERENCE[NEUTRAL]
    fitted = fit_correction(camera_jpeg_values(REFERENCE), REFERENCE, method="least_squares", neutral=NEUTRAL,
                            linearisation="grey_ramp")
    curve = fitted.tone_curve
    again = ToneCurve.from_json(curve.to_json())
    values = np.random.default_rng(1).uniform(0.01, 1, (40, 3))
    assert np.allclose(apply_correction(values, fitted.matrix, again), apply_correction(values, fitted.matrix, curve),
                       atol=2e-5)
    assert curve.tint_gain and len(curve.to_json()["tint_gain"]) == 3
    with pytest.raises(ValueError, match="at least 3 grey"):
        fit_tone_curve(greys[:2], greys[:2])


def test_linearising_first_beats_any_matrix_on_a_non_srgb_camera():
    measured = camera_jpeg_values(REFERENCE)
    chosen = choose_correction(measured, REFERENCE, neutral=NEUTRAL, neutral_weight=20.0)
    assert chosen.linearisation == "grey_ramp" and chosen.withheld is None
    after = delta_e(chosen.apply(measured), REFERENCE)
    plain = fit_correction(measured, REFERENCE, method="root_polynomial", neutral=NEUTRAL, neutral_weight=20.0)
    plain_after = delta_e(plain.apply(measured), REFERENCE)
    assert after.mean() < 1.0 < plain_after.mean()
    # The expected error is what held-out patches show: never below what the fit shows on
    # the patches it saw, and every candidate is listed with its own.
    assert chosen.expected_delta_e00 >= after.mean() - 1e-6
    assert {(c.method, c.linearisation) for c in chosen.candidates} >= {
        ("least_squares", "srgb"), ("root_polynomial", "grey_ramp"), ("polynomial_ridge", "grey_ramp")}
    assert all(c.standard_error > 0 for c in chosen.candidates)


def test_greys_stay_neutral_against_their_reference():
    measured = camera_jpeg_values(REFERENCE) * 0.8
    for method in ("least_squares", "root_polynomial", "polynomial_ridge"):
        fitted = fit_correction(measured, REFERENCE, method=method, neutral=NEUTRAL, linearisation="grey_ramp")
        ratio = fitted.apply(measured)[NEUTRAL] / REFERENCE[NEUTRAL]
        spread = 100 * (ratio.max(axis=1) - ratio.min(axis=1)) / ratio.mean(axis=1)
        # The chart's own greys differ in tint by up to 5 % between channels; each is kept.
        assert spread.max() < 0.5, method


def test_no_correction_when_none_predicts_better_than_the_photo():
    # A camera that already records the reference colours: every fit can only add error on
    # patches it did not see, so the photo is left as it is, and the report says why.
    chosen = choose_correction(REFERENCE.copy(), REFERENCE, neutral=NEUTRAL, neutral_weight=20.0)
    assert chosen.method == "none" and chosen.withheld and "uncorrected" in chosen.withheld
    values = np.random.default_rng(2).uniform(0, 1, (10, 3))
    assert np.allclose(chosen.apply(values), values)
    # The same camera with 1 % noise and a cast is corrected, and the expected error is below
    # what the uncorrected patches show.
    noisy = REFERENCE * (1 + np.random.default_rng(4).normal(0, 0.01, REFERENCE.shape))
    cast = choose_correction(noisy * [1.3, 1.0, 0.7], REFERENCE, neutral=NEUTRAL, neutral_weight=20.0)
    uncorrected = delta_e(noisy * [1.3, 1.0, 0.7], REFERENCE).mean()
    assert cast.withheld is None and cast.method != "none" and cast.expected_delta_e00 < uncorrected


def test_ridge_keeps_a_weak_noisy_channel_near_a_white_balance():
    # Tungsten light with the camera set to daylight: blue reads a tenth of red, in few codes.
    rng = np.random.default_rng(3)
    measured = (REFERENCE @ CAMERA.T) * [1.0, 0.55, 0.1]
    measured = np.round(np.clip(measured + rng.normal(0, 0.002, measured.shape), 0, 1) * 255) / 255
    strong = fit_correction(measured, REFERENCE, method="polynomial_ridge", neutral=NEUTRAL, ridge=1e-2)
    weak = fit_correction(measured, REFERENCE, method="polynomial_ridge", neutral=NEUTRAL, ridge=1e-6)
    # The penalty shrinks the second-order terms (those that blow up a noisy channel).
    assert np.abs(strong.matrix[:, 3:]).sum() < np.abs(weak.matrix[:, 3:]).sum() / 3
    # A colour between the patches, in the weak channel's noise, stays bounded.
    probe = np.array([[0.3, 0.12, 0.004]])
    assert strong.apply(probe).max() < 1.0


def test_station_profile_keeps_the_tone_curve(tmp_path):
    factory = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    measured = camera_jpeg_values(REFERENCE)
    fitted = fit_correction(measured, REFERENCE, method="root_polynomial", neutral=NEUTRAL,
                            linearisation="grey_ramp")
    save_profile(factory, station="room-1", valid_from=dt.date(2026, 1, 1), source="card", ccm=fitted.matrix,
                 ccm_method=fitted.method, tone_curve=fitted.tone_curve)
    profile = select_profile(factory, "room-1", dt.date(2026, 6, 1))
    assert profile.tone_curve is not None
    assert np.allclose(apply_correction(measured, profile.ccm, profile.tone_curve), fitted.apply(measured), atol=1e-5)
    # A profile written before tone curves (a bare matrix in the column) still reads.
    with factory.begin() as session:
        session.add(StationProfile(station="room-2", valid_from=dt.date(2025, 1, 1), source="card",
                                   ccm=np.eye(3).tolist(), ccm_method="least_squares"))
    old = select_profile(factory, "room-2", dt.date(2026, 6, 1))
    assert old.tone_curve is None and np.allclose(old.ccm, np.eye(3))


def test_a_chart_found_upside_down_or_elsewhere_is_not_used(monkeypatch):
    # OpenCV's detector sometimes returns a 6x4 grid that is another chart, or this one in the
    # wrong order. Its "greys" then do not run light to dark, and no correction is fitted to it.
    from dataclasses import replace

    import photostation.calibrate as calibrate
    from photostation.protocol import parse_protocol
    from photostation.synthetic.chart import render_colorchecker_scene

    protocol = parse_protocol('[calibration]\ncolorchecker_reference = "BabelColor Average"\n')
    scene = render_colorchecker_scene("D65", image_size=(1000, 750), rng=4)
    good = calibrate.calibrate_image(scene.image, None, protocol)
    assert good.source == "fitted" and good.correction is not None
    found = calibrate.find_card
    monkeypatch.setattr(calibrate, "find_card", lambda *a, **k: replace(card := found(*a, **k),
                                                                         patch_quads_px=card.patch_quads_px[::-1]))
    wrong = calibrate.calibrate_image(scene.image, None, protocol)
    assert wrong.correction is None and wrong.source == "none" and wrong.verdict == "fail"
    assert "do not run from light to dark" in wrong.checks[0].message


def test_cli_reports_the_model_and_its_expected_error(tmp_path, capsys):
    from photostation.synthetic import write_jpeg
    from photostation.synthetic.chart import render_colorchecker_scene
    from photostation_cli.main import main

    shot = write_jpeg(tmp_path / "chart.jpg", render_colorchecker_scene("FL2", image_size=(1000, 750), rng=6).image)
    clinic = tmp_path / "clinic.toml"
    clinic.write_text('[calibration]\ncolorchecker_reference = "BabelColor Average"\n')
    assert main(["calibrate", str(shot), "--protocol", str(clinic)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"model: .*(least_squares|root_polynomial|polynomial_ridge|white_balance); expected \d+\.\d\d on "
                     r"colours not on the card", out), out
    assert main(["calibrate", str(shot), "--protocol", str(clinic), "--method", "white_balance", "--json"]) in (0, 1)
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "white_balance" and np.allclose(np.asarray(data["ccm"]), np.diag(np.diag(data["ccm"])))
