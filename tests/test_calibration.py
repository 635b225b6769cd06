"""Calibration on rendered cards (spectral ColorChecker, PS-1 card, grey target): detection,
colour correction, scale, flat-field, station profiles and the calibrate/card CLI.
Accuracy over many poses and illuminants is in benchmarks/calibration.py."""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace

import numpy as np
import pytest

from calibration.ccm import apply_correction, fit_correction
from calibration.flatfield import apply_flat_field, fit_flat_field
from photostation.calibrate import calibrate_image, correct_linear
from photostation.errors import InputError
from photostation.ledger import open_ledger
from photostation.protocol import parse_protocol
from photostation.qa.pixels import to_linear
from photostation.stations import save_profile, select_profile
from photostation.metadata import read_metadata
from photostation.synthetic import ExifFields, Lighting, Pose, encode_jpeg, write_jpeg
from photostation.synthetic.chart import render_colorchecker_scene, render_grey_target, render_project_card_scene
from photostation_cli.main import main

CET = dt.timezone(dt.timedelta(hours=1))
EXIF = ExifFields(make="Canon", model="Canon EOS R8", serial="1", lens="RF50", focal_length_mm=50.0,
                  focal_length_35mm=50, exposure_time_s=1 / 125, f_number=8.0, iso=100, flash_fired=True,
                  white_balance="manual", captured_at=dt.datetime(2026, 5, 4, 10, 0, tzinfo=CET))


@pytest.fixture(scope="module")
def babel():
    """The renderer's chart has the BabelColor average spectra: its reference must match."""
    return parse_protocol('[calibration]\ncolorchecker_reference = "BabelColor Average"\n')


@pytest.mark.parametrize("illuminant", ["A", "D65", "FL2"])
def test_colorchecker_found_and_corrected(babel, illuminant):
    scene = render_colorchecker_scene(illuminant, pose=Pose(rotation_deg=35.0, tilt_deg=15.0, tilt_axis_deg=60.0),
                                      image_size=(1200, 900), rng=3)
    report = calibrate_image(scene.image, None, babel)
    assert report.card is not None and report.card.type == "colorchecker24"
    # The detected corners are the chart's, in the chart's own order (dark skin first).
    assert np.linalg.norm(report.card.patch_quads_px[0].mean(axis=0) - scene.patch_centres_px[0]) < 10
    data = report.to_json()
    assert data["delta_e00"]["after_mean"] <= 2.0
    assert data["delta_e00"]["after_mean"] < data["delta_e00"]["before_mean"] / (3 if illuminant != "D65" else 1)
    assert data["correction"] == "fitted" and np.asarray(data["ccm"]).shape[0] == 3
    assert data["method"] in ("least_squares", "root_polynomial", "polynomial_ridge")
    assert report.neutral_spread_pct is not None and report.neutral_spread_pct <= 2.0
    # The light's colour temperature comes from the grey patches (camera white balance fixed for daylight).
    if illuminant == "A":
        assert data["illuminant_cct_k"] < 4000
    assert data["mm_per_px"] is None and any("patch pitch" in f for f in data["flags"])


def test_both_fits_recover_a_known_camera_matrix():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.03, 0.9, (24, 3))
    camera = np.array([[1.2, -0.15, 0.02], [-0.08, 1.05, 0.05], [0.03, -0.2, 0.8]])
    measured = reference @ np.linalg.inv(camera).T
    for method in ("root_polynomial", "least_squares", "opencv"):
        fitted = fit_correction(measured, reference, method=method)
        assert np.allclose(apply_correction(measured, fitted.matrix), reference, atol=0.01), method


def test_ps1_card_scale_and_tilt_at_30_degrees(protocol):
    scene = render_project_card_scene(pose=Pose(rotation_deg=120.0, tilt_deg=30.0, tilt_axis_deg=20.0),
                                      px_per_mm_at_card=7.0, background="scalp", rng=5)
    meta = read_metadata(encode_jpeg(scene.image, EXIF))  # the camera model for the tilt comes from EXIF
    report = calibrate_image(scene.image, meta, protocol)
    assert report.card.type == "ps1"
    assert report.mm_per_px == pytest.approx(scene.mm_per_px_at_card_centre, rel=0.01)
    assert report.tilt_deg == pytest.approx(scene.tilt_deg, abs=1.5)
    assert report.to_json()["delta_e00"]["after_mean"] < 2.0


def test_excluded_patches_are_listed(babel):
    protocol = babel
    clipped = render_colorchecker_scene("D65", exposure_ev=1.6, image_size=(1200, 900), rng=2)
    report = calibrate_image(clipped.image, None, protocol)
    reasons = {e["name"]: e["reason"] for e in report.to_json()["excluded_patches"]}
    assert reasons and all("overexposed" in why for why in reasons.values())
    assert "white 9.5 (.05 D)" in reasons
    # Half the card out of frame: found from its remaining markers, the hidden patches listed.
    scene = render_project_card_scene(pose=Pose(shift_mm=(-90.0, 0.0)), px_per_mm_at_card=8.0, rng=1)
    report = calibrate_image(scene.image, None, protocol)
    data = report.to_json()
    assert data["card"]["type"] == "ps1"
    outside = [e for e in data["excluded_patches"] if e["reason"] == "outside the frame"]
    assert outside and len(outside) < 12


def test_no_card_falls_back_to_the_station_profile(protocol, tmp_path):
    blank = render_grey_target(image_size=(800, 600), rng=1).image
    report = calibrate_image(blank, None, protocol)
    assert report.source == "none" and report.verdict == "fail"
    factory = open_ledger(str(tmp_path / "l.db"))
    save_profile(factory, station="station-1", valid_from=dt.date(2026, 1, 1), source="card",
                 ccm=np.eye(3) * 1.1, ccm_method="least_squares", illuminant_cct_k=5400.0)
    save_profile(factory, station="station-1", valid_from=dt.date(2026, 6, 1), source="card",
                 ccm=np.eye(3) * 1.2, ccm_method="least_squares")
    save_profile(factory, station="station-1", device="dermatoscope", valid_from=dt.date(2026, 1, 1),
                 source="device-scale", mm_per_px=0.00625)
    may = select_profile(factory, "station-1", dt.date(2026, 5, 4), device="dermatoscope")
    assert may.ccm[0, 0] == pytest.approx(1.1) and may.mm_per_px == 0.00625
    assert select_profile(factory, "station-1", dt.date(2026, 7, 1)).ccm[0, 0] == pytest.approx(1.2)
    assert select_profile(factory, "station-1", dt.date(2025, 12, 1)).empty
    report = calibrate_image(blank, None, protocol, profile=may)
    data = report.to_json()
    assert data["correction"] == "station_profile" and report.verdict == "warn"
    assert data["ccm"][0][0] == pytest.approx(1.1) and data["mm_per_px"] == 0.00625
    assert "station profile is used" in data["flags"][0]


def test_flat_field_evens_out_the_light():
    lighting = Lighting(vignetting=0.25, gradient_strength=0.35, gradient_direction_deg=200.0)
    target = render_grey_target(image_size=(800, 600), lighting=lighting, rng=4)
    flat = fit_flat_field(to_linear(target.image))
    assert flat.ratio > 1.4
    later = render_grey_target(image_size=(800, 600), lighting=lighting, rng=9, reflectance=0.3)
    evened = apply_flat_field(to_linear(later.image), flat)
    y = evened.mean(axis=2)
    blocks = [y[r:r + 100, c:c + 100].mean() for r in range(0, 600, 100) for c in range(0, 800, 100)]
    assert max(blocks) / min(blocks) < 1.05
    corrected = correct_linear(to_linear(later.image), ccm=np.eye(3), flat_field=flat)
    assert np.allclose(corrected, evened, atol=1e-6)


def test_cli_calibrate_save_fallback_and_corrected_output(tmp_path, capsys):
    scene = render_colorchecker_scene("A", image_size=(1200, 900), rng=7)
    card_shot = write_jpeg(tmp_path / "card.jpg", scene.image, replace(EXIF, white_balance="manual"))
    db = tmp_path / "ledger.db"
    clinic = tmp_path / "clinic.toml"
    clinic.write_text('[calibration]\ncolorchecker_reference = "BabelColor Average"\n')
    code = main(["calibrate", str(card_shot), "--station", "station-1", "--db", str(db), "--save", "--json",
                 "--protocol", str(clinic), "--out", str(tmp_path / "corrected.png")])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["card"]["type"] == "colorchecker24" and data["saved_profile_id"] >= 1
    # Keys only ever get added (issue 18 added the cross-validated expected_mean).
    assert set(data["delta_e00"]) >= {"before_mean", "after_mean", "after_max", "expected_mean"}
    assert data["delta_e00"]["expected_mean"] >= data["delta_e00"]["after_mean"] and "illuminant_cct_k" in data
    assert data["linearisation"] in ("srgb", "grey_ramp") and data["model_selection"]
    linearisation = data["linearisation"]
    assert (tmp_path / "corrected.png").stat().st_size > 0
    # A later shot without a card at the same station uses the saved profile.
    later = write_jpeg(tmp_path / "no-card.jpg", render_grey_target(image_size=(800, 600), rng=2).image,
                       replace(EXIF, captured_at=EXIF.captured_at + dt.timedelta(days=30)))
    code = main(["calibrate", str(later), "--station", "station-1", "--db", str(db), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["correction"] == "station_profile" and data["profile"]["ccm_profile_id"] >= 1
    assert data["linearisation"] == linearisation  # the saved tone curve comes with the matrix
    # Without a station: nothing to fall back to.
    code = main(["calibrate", str(later), "--json"])
    assert code == 1 and json.loads(capsys.readouterr().out)["card"] == {"type": None, "corners": None}
    code = main(["calibrate", "--station", "station-1", "--device", "scope", "--mm-per-px", "0.0065", "--save",
                 "--db", str(db)])
    assert code == 0 and "saved as profile" in capsys.readouterr().out
    for bad in (["calibrate", str(later), "--save"], ["calibrate"], ["calibrate", str(later), "--out", str(tmp_path / "x.bmp"),
                                                                     "--station", "station-1", "--db", str(db)]):
        assert main(bad) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_cli_flat_field_profile(tmp_path, capsys):
    target = render_grey_target(image_size=(800, 600), lighting=Lighting(vignetting=0.2, gradient_strength=0.2), rng=3)
    shot = write_jpeg(tmp_path / "grey.jpg", target.image, EXIF)
    db = tmp_path / "ledger.db"
    code = main(["calibrate", str(shot), "--flat-field", "--station", "station-2", "--save", "--db", str(db), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["flat_field_ratio"] > 1.1
    profile = select_profile(open_ledger(str(db)), "station-2", EXIF.captured_at.date())
    assert profile.flat_field is not None and profile.flat_field.gain.max() == pytest.approx(1.0)


def test_card_pdf_is_print_ready(tmp_path, capsys):
    assert main(["card", "--out", str(tmp_path / "card.pdf")]) == 0
    pdf = (tmp_path / "card.pdf").read_bytes()
    width_pt, height_pt = map(float, re.search(rb"MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", pdf).groups())
    assert width_pt * 25.4 / 72 == pytest.approx(85.6, abs=0.2)
    assert height_pt * 25.4 / 72 == pytest.approx(54.0, abs=0.2)
    assert main(["card", "--out", str(tmp_path / "card.svg")]) == 2


def test_close_ups_are_not_searched_for_a_colorchecker(babel, protocol):
    # A dermatoscope's field cannot hold the chart: close-ups skip the (slow) ColorChecker
    # search unless the protocol asks for it; the PS-1 card is still looked for.
    chart = render_colorchecker_scene("D65", rng=3)
    assert calibrate_image(chart.image, None, babel).card.type == "colorchecker24"
    assert calibrate_image(chart.image, None, babel, close_up=True).card is None
    asked = parse_protocol('[calibration]\ncolorchecker_reference = "BabelColor Average"\n'
                           'colorchecker_in_close_ups = true\n')
    assert calibrate_image(chart.image, None, asked, close_up=True).card.type == "colorchecker24"
    ps1 = render_project_card_scene(pose=Pose(rotation_deg=10.0), px_per_mm_at_card=7.0, background="scalp", rng=5)
    assert calibrate_image(ps1.image, None, protocol, close_up=True).card.type == "ps1"
    with pytest.raises(InputError, match="true or false"):
        parse_protocol('[calibration]\ncolorchecker_in_close_ups = "yes"\n')
