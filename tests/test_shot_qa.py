"""Image QA of `photostation check` on rendered pairs with known drift (the renderer's truth),
plus the bad inputs the issue names. Accuracy over many cases is in benchmarks/shot_qa.py;
these tests pin each measurement's direction and rough size."""
from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from photostation.protocol import parse_protocol
from photostation.shot import check_photo
from photostation.synthetic import (ExifFields, Lighting, Optics, Pose, evolve_patch, make_scalp_patch,
                                    render_trichoscopy, write_jpeg)
from photostation.synthetic.chart import render_colorchecker_scene
from photostation_cli.main import main

from .conftest import NOW

CET = dt.timezone(dt.timedelta(hours=1))
SIZE = (960, 720)
FIELD_MM = 8.0
F35 = 40
BASE_TIME = dt.datetime(2026, 3, 2, 10, 0, tzinfo=CET)
EXIF = ExifFields(make="FotoFinder", model="medicam 1000s", serial="MC-1", lens="medicam 20x", focal_length_mm=4.4,
                  focal_length_35mm=F35, exposure_time_s=1 / 30, f_number=5.6, iso=100, flash_fired=False,
                  white_balance="manual", captured_at=BASE_TIME)
CLEAN = Optics(blur_sigma_px=0.6, noise_sigma=0.004, jpeg_quality=92)


@pytest.fixture(scope="module")
def scalp():
    patch = make_scalp_patch(np.random.default_rng(11), 16.0, 16.0, density_per_cm2=170, vellus_share=0.1)
    follow, _ = evolve_patch(patch, np.random.default_rng(12), days=182, density_change_pct=5.0)
    return patch, follow


def render(patch, pose=Pose(), lighting=Lighting(), optics=CLEAN, seed=0):
    return render_trichoscopy(patch, pose, lighting, optics, image_size=SIZE, field_width_mm=FIELD_MM, clipped=True,
                              focal_length_35mm=F35, rng=seed).image


@pytest.fixture(scope="module")
def baseline(scalp, tmp_path_factory):
    folder = tmp_path_factory.mktemp("qa")
    return write_jpeg(folder / "P1" / "baseline" / "tricho-vertex.jpg", render(scalp[0]), EXIF)


def follow_up(tmp_path, scalp, name="tricho-vertex.jpg", exif=None, **kwargs):
    image = render(scalp[1], **kwargs)
    exif = exif or replace(EXIF, captured_at=BASE_TIME + dt.timedelta(days=182))
    return write_jpeg(tmp_path / "P1" / "month-6" / name, image, exif)


def checks_of(photo, protocol, baseline=None, **kwargs):
    report = check_photo(photo, protocol, baseline=baseline, now=NOW, **kwargs)
    return report, {c.name: c for c in report.checks}


QA = ("exposure.", "white_balance.", "focus.", "lighting.", "glare.", "pose.")


def test_clean_pair_passes_every_image_check(tmp_path, scalp, baseline, protocol):
    photo = follow_up(tmp_path, scalp, pose=Pose(rotation_deg=1.0, scale=1.01, shift_mm=(0.1, -0.1)))
    report, checks = checks_of(photo, protocol, baseline)
    image_checks = {n: c for n, c in checks.items() if n.startswith(QA)}
    assert {"pose.registration", "pose.roll_deg", "exposure.difference_ev", "white_balance.shift_mired",
            "focus.ratio", "lighting.change", "glare.share_pct", "exposure.level"} <= set(image_checks)
    assert all(c.status == "pass" for c in image_checks.values()), [c for c in image_checks.values() if c.status != "pass"]
    assert report.verdict == "pass"
    assert checks["pose.roll_deg"].value == pytest.approx(1.0, abs=0.5)
    assert checks["exposure.difference_ev"].value == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("ev", [-0.7, 0.7])
def test_exposure_difference_in_ev(tmp_path, scalp, baseline, protocol, ev):
    photo = follow_up(tmp_path, scalp, lighting=Lighting(exposure_ev=ev))
    _, checks = checks_of(photo, protocol, baseline)
    c = checks["exposure.difference_ev"]
    assert c.value == pytest.approx(ev, abs=0.12) and c.status == "fail"
    assert ("darker" if ev < 0 else "brighter") in c.message


def test_white_balance_shift_in_mired(tmp_path, scalp, baseline, protocol):
    photo = follow_up(tmp_path, scalp, lighting=Lighting(white_balance_shift_mired=50.0))
    _, checks = checks_of(photo, protocol, baseline)
    c = checks["white_balance.shift_mired"]
    assert c.status == "fail" and c.value == pytest.approx(50.0, abs=12.0) and "warmer" in c.message


@pytest.mark.parametrize("pose,name,expected,tolerance", [
    (Pose(rotation_deg=15.0), "pose.roll_deg", 15.0, 1.0),
    (Pose(rotation_deg=-12.0), "pose.roll_deg", -12.0, 1.0),
    (Pose(tilt_deg=12.0, tilt_axis_deg=30.0), "pose.tilt_deg", 12.0, 1.0),
    (Pose(scale=1.15), "pose.scale_pct", 15.0, 1.0),
    (Pose(scale=1 / 1.15), "pose.scale_pct", -100 * (1 - 1 / 1.15), 1.0),
])
def test_pose_against_known_transforms(tmp_path, scalp, baseline, protocol, pose, name, expected, tolerance):
    photo = follow_up(tmp_path, scalp, pose=pose)
    _, checks = checks_of(photo, protocol, baseline)
    assert checks["pose.registration"].status == "pass"
    assert checks[name].value == pytest.approx(expected, abs=tolerance)
    assert checks[name].status == "fail"


def test_directions_the_photographer_can_act_on(tmp_path, scalp, baseline, protocol):
    _, checks = checks_of(follow_up(tmp_path, scalp, pose=Pose(rotation_deg=15.0)), protocol, baseline)
    assert "clockwise" in checks["pose.roll_deg"].message and "turn the camera 15° counter-clockwise" in \
        checks["pose.roll_deg"].message
    _, checks = checks_of(follow_up(tmp_path, scalp, pose=Pose(scale=1.15)), protocol, baseline)
    assert "move the camera back" in checks["pose.scale_pct"].message
    # The renderer's tilt about the horizontal axis moves the bottom edge away.
    _, checks = checks_of(follow_up(tmp_path, scalp, pose=Pose(tilt_deg=12.0, tilt_axis_deg=0.0)), protocol, baseline)
    assert "the bottom of the frame is farther" in checks["pose.tilt_deg"].message
    _, checks = checks_of(follow_up(tmp_path, scalp, pose=Pose(shift_mm=(2.5, 0.0))), protocol, baseline)
    assert checks["pose.shift_pct"].status != "pass" and "move the camera left" in checks["pose.shift_pct"].message


def test_blur_and_glare_and_one_side_darker(tmp_path, scalp, baseline, protocol):
    _, checks = checks_of(follow_up(tmp_path, scalp, optics=replace(CLEAN, blur_sigma_px=3.0)), protocol, baseline)
    assert checks["focus.ratio"].status == "fail" and checks["focus.ratio"].value < 0.5
    _, checks = checks_of(follow_up(tmp_path, scalp, lighting=Lighting(glare=0.9)), protocol, baseline)
    assert checks["glare.share_pct"].status != "pass"
    _, checks = checks_of(follow_up(tmp_path, scalp, lighting=Lighting(gradient_strength=0.5,
                                                                        gradient_direction_deg=180.0)),
                          protocol, baseline)
    change = checks["lighting.change"]
    assert change.status == "fail" and change.value > 1.45 and "darker towards the left" in change.message


def test_unregistrable_baseline_fails_without_made_up_angles(tmp_path, scalp, baseline, protocol):
    other = make_scalp_patch(np.random.default_rng(99), 16.0, 16.0, density_per_cm2=170, vellus_share=0.1)
    photo = write_jpeg(tmp_path / "P1" / "month-6" / "tricho-vertex.jpg", render(other, seed=5),
                       replace(EXIF, captured_at=BASE_TIME + dt.timedelta(days=182)))
    report, checks = checks_of(photo, protocol, baseline)
    assert checks["pose.registration"].status == "fail" and "cannot register" in checks["pose.registration"].message
    assert not any(n in checks for n in ("pose.roll_deg", "pose.tilt_deg", "pose.scale_pct", "pose.shift_pct"))
    assert report.verdict == "fail" and report.pair.matrix_original is None
    blank = write_jpeg(tmp_path / "blank.jpg", np.full((720, 960, 3), 128, np.uint8), EXIF)
    _, checks = checks_of(blank, protocol, baseline)
    assert checks["pose.registration"].status == "fail"
    assert not any(n.startswith("pose.") and n != "pose.registration" for n in checks)


def test_colour_cast_is_reported_as_a_colour_cast_when_the_pair_does_not_register(tmp_path, scalp, baseline,
                                                                                 protocol):
    # A mirrored follow-up cannot be registered (SIFT matches no mirrored geometry), but its
    # skin is the same patient's: the light's colour is still compared, on skin medians.
    def mirrored(**kwargs):
        image = np.ascontiguousarray(render(scalp[1], **kwargs)[:, ::-1])
        return write_jpeg(tmp_path / "P1" / "month-6" / "tricho-vertex.jpg", image,
                          replace(EXIF, captured_at=BASE_TIME + dt.timedelta(days=182)))

    _, checks = checks_of(mirrored(lighting=Lighting(white_balance_shift_mired=60.0)), protocol, baseline)
    assert checks["pose.registration"].status == "fail"
    cast = checks["white_balance.shift_mired"]
    assert cast.status != "pass" and 35.0 < cast.value < 85.0
    assert "skin medians, unregistered" in cast.message
    assert "unregistered" in checks["exposure.difference_ev"].message
    _, checks = checks_of(mirrored(), protocol, baseline)
    assert checks["white_balance.shift_mired"].status == "pass" and abs(checks["white_balance.shift_mired"].value) < 15
    assert checks["exposure.difference_ev"].status == "pass"


def test_focus_ratio_ignores_resampling_and_catches_a_one_pixel_blur(tmp_path, scalp, baseline, protocol):
    import cv2
    sharp = np.asarray(Image.open(baseline).convert("RGB"))
    later = replace(EXIF, captured_at=BASE_TIME + dt.timedelta(days=182))

    def ratio_of(image):
        photo = write_jpeg(tmp_path / "P1" / "month-6" / "tricho-vertex.jpg", np.ascontiguousarray(image), later)
        return checks_of(photo, protocol, baseline)[1]["focus.ratio"]

    # The baseline itself, resampled by 4 % either way: the same focus.
    for factor in (0.96, 1.04):
        resampled = cv2.resize(sharp, None, fx=factor, fy=factor,
                               interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
        assert ratio_of(resampled).status == "pass"
    soft = ratio_of(cv2.GaussianBlur(sharp, (0, 0), 1.0))
    assert soft.status != "pass" and soft.value < 0.75


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_tiny_grey_16bit_and_cmyk_inputs(tmp_path, scalp, baseline, protocol):
    rgb = render(scalp[1])
    tiny = tmp_path / "tiny.jpg"
    tiny.write_bytes(_encoded(Image.fromarray(rgb).resize((40, 30)), "JPEG"))
    _, checks = checks_of(tiny, protocol, baseline)
    assert checks["pose.registration"].status == "fail" and "too small" in checks["pose.registration"].message
    grey = tmp_path / "grey.png"
    grey.write_bytes(_encoded(Image.fromarray(rgb).convert("L"), "PNG"))
    report, checks = checks_of(grey, protocol, baseline)
    assert checks["pose.registration"].status == "pass" and checks["exposure.level"].value > 0
    deep = tmp_path / "deep.png"
    deep.write_bytes(_encoded(Image.fromarray((rgb[..., 1].astype(np.uint16) * 257)), "PNG"))
    _, checks = checks_of(deep, protocol, baseline)
    assert checks["pose.registration"].status == "pass"
    cmyk = tmp_path / "cmyk.jpg"
    cmyk.write_bytes(_encoded(Image.fromarray(rgb).convert("CMYK"), "JPEG"))
    _, checks = checks_of(cmyk, protocol, baseline)
    assert checks["pose.registration"].status == "pass"


def test_cli_json_and_ghost_overlay(tmp_path, scalp, baseline, capsys):
    photo = follow_up(tmp_path, scalp, pose=Pose(rotation_deg=8.0))
    code = main(["check", str(photo), "--baseline", str(baseline), "--json", "--out", str(tmp_path / "out")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["verdict"] == "warn"  # 8 degrees: between the warn and fail limits
    assert all(set(c) >= {"name", "status", "value", "limit", "message"} for c in report["checks"])
    registration = report["registration"]
    assert registration["inliers"] >= 25 and len(registration["matrix"]) == 3
    ghost = tmp_path / "out" / "tricho-vertex_ghost.png"
    with Image.open(ghost) as image:
        assert image.size == SIZE and image.mode == "RGB"
        pixels = np.asarray(image)
    assert ((pixels[..., 0] == 0) & (pixels[..., 1] == 255) & (pixels[..., 2] == 0)).sum() > 100  # frame outline
    code = main(["check", str(photo), "--out", str(tmp_path / "out2")])
    assert code == 2 and "give --baseline" in capsys.readouterr().err


def test_exposure_and_colour_are_measured_on_a_card_in_both_shots(tmp_path, protocol):
    # A ColorChecker in front of a crown (the renderer's spectral chart): the follow-up is
    # 0.5 EV brighter. The grey patches, a known neutral, give the difference.
    exif = replace(EXIF, make="Canon", model="Canon EOS R8", lens="RF50mm F1.8", focal_length_mm=50.0,
                   focal_length_35mm=50, flash_fired=True)
    shots = {}
    for label, ev, seed in (("baseline", 0.0, 1), ("month-6", 0.5, 2)):
        chart = render_colorchecker_scene("D65", image_size=(1200, 900), chart_width_frac=0.35, exposure_ev=ev,
                                          pose=Pose(rotation_deg=3.0), rng=seed)
        when = BASE_TIME if label == "baseline" else BASE_TIME + dt.timedelta(days=182)
        shots[label] = write_jpeg(tmp_path / "P1" / label / "vertex.jpg", chart.image,
                                  replace(exif, captured_at=when))
    report, checks = checks_of(shots["month-6"], protocol, shots["baseline"])
    assert report.pair is not None and report.pair.measured_on == "card"
    c = checks["exposure.difference_ev"]
    assert c.value == pytest.approx(0.5, abs=0.1) and c.status != "pass" and "brighter" in c.message
    assert "card" in checks["white_balance.shift_mired"].message
    assert abs(checks["white_balance.shift_mired"].value) < 15.0
    # A clinic without cards switches the search off: the same pair is compared on the scene.
    no_cards = parse_protocol("[qa]\ncard_search_side_px = 0\n")
    report, _ = checks_of(shots["month-6"], no_cards, shots["baseline"])
    assert report.pair is not None and report.pair.measured_on != "card"
