"""Tests of the calibration-target renderer (photostation.synthetic.chart): the rendered
pixels agree with the truth the renderer returns, and the colours follow the physics."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calibration.project_card import CARD_HEIGHT_MM, CARD_WIDTH_MM, MARKER_MM, card_layout
from photostation.synthetic.camera import (Lighting, Optics, Pose, focal_length_px,
                                           nominal_distance_mm, project_points, srgb_decode)
from photostation.synthetic.chart import (CHART_WIDTH_MM, PATCH_MM, camera_matrix,
                                          chart_patch_centres_mm, daylight_gains,
                                          render_colorchecker_scene, render_grey_target,
                                          render_project_card_scene)

SMALL = (640, 480)
NEUTRALS = slice(18, 24)
WHITE, BLUE, GREEN, RED, YELLOW = 18, 12, 13, 14, 15


def patch_means(render, radius_frac: float = 0.25, n: int = 9) -> np.ndarray:
    """Mean linear RGB of each patch over a grid of chart points around its centre."""
    lin = srgb_decode(render.image)
    offs = np.linspace(-radius_frac, radius_frac, n) * PATCH_MM
    ox, oy = np.meshgrid(offs, offs)
    pts_mm = chart_patch_centres_mm()[:, None, :] + np.stack([ox.ravel(), oy.ravel()], -1)[None]
    px = np.round(project_points(render.chart_to_image, pts_mm)).astype(int)
    return np.array([lin[p[:, 1], p[:, 0]].mean(0) for p in px])


def spread(rgb: np.ndarray) -> np.ndarray:
    return (rgb.max(-1) - rgb.min(-1)) / rgb.mean(-1)


@pytest.fixture(scope="module")
def d65():
    return render_colorchecker_scene("D65", image_size=SMALL, background="grey", rng=5)


# ------------------------------------------------------------------ ColorChecker

def test_colorchecker_is_deterministic_by_seed():
    kw = dict(image_size=SMALL, background="grey", pose=Pose(rotation_deg=20, tilt_deg=10))
    a = render_colorchecker_scene("A", rng=3, **kw)
    b = render_colorchecker_scene("A", rng=3, **kw)
    c = render_colorchecker_scene("A", rng=4, **kw)
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)
    np.testing.assert_array_equal(a.patch_centres_px, c.patch_centres_px)  # geometry from the pose only


def test_d65_daylight_greys_are_neutral_and_ordered(d65):
    means = patch_means(d65)
    greys = means[NEUTRALS]
    # The ColorChecker's neutrals are not perfectly flat spectrally (the white is slightly
    # yellow and neutral 3.5 slightly blue, as in the reference values, which differ
    # between channels by up to 6 %); the light greys are neutral within 3 %.
    assert spread(greys[1:4]).max() < 0.035
    assert spread(greys).max() < 0.07
    lum = greys @ np.array([0.2126, 0.7152, 0.0722])
    assert np.all(np.diff(lum) < 0)  # white brightest, then darker to black
    assert lum.argmax() == 0 and means.sum(1).argmax() == WHITE
    assert 0.75 < greys[0].max() < 0.95  # exposure puts the white near 0.85


def test_patch_colours_at_truth_centres_match_the_camera_values(d65):
    means = patch_means(d65)
    truth = d65.camera_linear_srgb
    # Texture (~1 %) and noise average out over the 81 samples per patch.
    np.testing.assert_allclose(means, np.clip(truth, 0, 1), rtol=0.04, atol=0.004)
    b, g, r, y = means[BLUE], means[GREEN], means[RED], means[YELLOW]
    assert b[2] > 2 * b[0] and g[1] > 1.5 * g[0] and g[1] > 1.5 * g[2]
    assert r[0] > 3 * r[1] and y[0] > 3 * y[2] and y[1] > 3 * y[2]


def test_tungsten_is_warm_with_daylight_preset_and_neutral_with_auto():
    warm = render_colorchecker_scene("A", image_size=SMALL, background="grey", rng=1)
    greys = patch_means(warm)[NEUTRALS][:5]
    assert np.all(greys[:, 0] / greys[:, 2] > 3.0)
    fl = patch_means(render_colorchecker_scene("FL2", image_size=SMALL, background="grey", rng=1))
    assert np.all(fl[19:23, 0] / fl[19:23, 2] > 1.5)
    auto = render_colorchecker_scene("A", image_size=SMALL, background="grey", rng=1,
                                     white_balance="auto")
    assert spread(patch_means(auto)[19:22]).max() < 0.015
    assert warm.cct_k == pytest.approx(2856, abs=5)
    assert warm.reference_lab_d50.shape == (24, 3)


def test_camera_matrix_keeps_white_neutral():
    # The daylight gains make a perfect white under D65 equal in all channels, and the
    # matrix keeps equal channels equal.
    out = camera_matrix() @ np.ones(3)
    assert np.ptp(out) / out.mean() < 1e-9
    assert daylight_gains()[1] == 1.0


def test_posed_chart_truth_lands_on_patches_and_card():
    pose = Pose(rotation_deg=123.0, tilt_deg=22.0, tilt_axis_deg=60.0)
    r = render_colorchecker_scene("D50", image_size=SMALL, background="grey", pose=pose, rng=2,
                                  white_balance="auto")
    means = patch_means(r)
    np.testing.assert_allclose(means, np.clip(r.camera_linear_srgb, 0, 1), rtol=0.05, atol=0.005)
    lin = srgb_decode(r.image).mean(-1)
    centroid = r.corners_px.mean(0)
    for corner in r.corners_px:
        towards = (centroid - corner) / np.linalg.norm(centroid - corner)
        inside = np.round(corner + 4 * towards).astype(int)
        outside = np.round(corner - 4 * towards).astype(int)
        assert lin[inside[1], inside[0]] < 0.05  # the black card
        assert lin[outside[1], outside[0]] > 0.08  # the grey backdrop
    # Clockwise on screen: positive signed area with y down.
    x, y = r.corners_px.T
    assert 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0
    assert r.patch_visible.all() and not r.patch_overexposed.any()


def test_chart_width_fraction_and_partial_frame():
    r = render_colorchecker_scene("D65", image_size=SMALL, background="grey", rng=0,
                                  chart_width_frac=0.4)
    width = np.linalg.norm(r.corners_px[1] - r.corners_px[0])
    assert width == pytest.approx(0.4 * SMALL[0], rel=1e-6)
    cut = render_colorchecker_scene("D65", image_size=SMALL, background="grey", rng=0,
                                    chart_width_frac=0.6, pose=Pose(shift_mm=(-110.0, 0.0)))
    assert 0 < cut.patch_visible.sum() < 24
    assert not cut.patch_visible[5::6].any()  # the right-hand column is out of frame


def test_overexposure_clips_light_patches():
    r = render_colorchecker_scene("D65", image_size=SMALL, background="grey", rng=0,
                                  exposure_ev=1.5)
    assert r.patch_overexposed[WHITE] and not r.patch_overexposed[23]
    x, y = np.round(r.patch_centres_px[WHITE]).astype(int)
    assert r.image[y - 3:y + 4, x - 3:x + 4].min() >= 250


def test_scalp_background_and_16_bit():
    r = render_colorchecker_scene("FL2", image_size=SMALL, background="scalp", rng=0, bit_depth=16,
                                  chart_width_frac=0.3)
    assert r.image.dtype == np.uint16 and r.image.shape == (480, 640, 3)
    lin = srgb_decode(r.image)
    off_card = np.ones(lin.shape[:2], np.uint8)
    cv2.fillPoly(off_card, [np.round(r.corners_px).astype(np.int32)], 0)
    assert lin[off_card.astype(bool)].mean(-1).std() > 0.01  # a crown photo, not a flat backdrop
    np.testing.assert_allclose(patch_means(r)[19:23], r.camera_linear_srgb[19:23], rtol=0.04)


# ------------------------------------------------------------------ PS-1 card

@pytest.fixture(scope="module")
def card30():
    return render_project_card_scene(image_size=SMALL, px_per_mm_at_card=4.0, background="grey",
                                     pose=Pose(rotation_deg=35.0, tilt_deg=30.0, tilt_axis_deg=20.0),
                                     lighting=Lighting(gradient_strength=0.2), rng=1)


def test_card_homography_maps_markers_onto_dark_pixels(card30):
    lin = srgb_decode(card30.image).mean(-1)
    layout = card_layout()
    d = 0.6  # mm: inside the marker's black border module (2 mm) / outside on the white card
    signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    for marker_id, corners_mm in layout.marker_corners_mm.items():
        inner = np.round(project_points(card30.card_to_image, corners_mm + d * signs)).astype(int)
        outer = np.round(project_points(card30.card_to_image, corners_mm - d * signs)).astype(int)
        assert lin[inner[:, 1], inner[:, 0]].max() < 0.1, marker_id
        assert lin[outer[:, 1], outer[:, 0]].min() > 0.4, marker_id
        np.testing.assert_allclose(card30.marker_corners_px[marker_id],
                                   project_points(card30.card_to_image, corners_mm))
    # The truth corners bound the card: the card's white shows just inside each corner.
    centre = project_points(card30.card_to_image, np.array([[CARD_WIDTH_MM / 2, CARD_HEIGHT_MM / 2]]))[0]
    for corner in card30.corners_px:
        p = np.round(corner + 3 * (centre - corner) / np.linalg.norm(centre - corner)).astype(int)
        assert lin[p[1], p[0]] > 0.4


@pytest.mark.parametrize("rotation, axis", [(0.0, 0.0), (35.0, 20.0), (200.0, 90.0)])
def test_card_scale_at_30_degrees_matches_pose_geometry(rotation, axis):
    ppm, scale = 5.0, 1.1
    pose = Pose(rotation_deg=rotation, tilt_deg=30.0, tilt_axis_deg=axis, scale=scale)
    r = render_project_card_scene(image_size=SMALL, px_per_mm_at_card=ppm, pose=pose,
                                  background="grey", noise_sigma=0.0, rng=0)
    # Aimed point on the optical axis at distance d / scale: the card is foreshortened by
    # cos(tilt) along one direction, so the isotropic scale is f / d' * sqrt(cos(tilt)).
    f = focal_length_px(r.focal_length_35mm, SMALL[0])
    d = nominal_distance_mm(SMALL[0] / ppm, SMALL, r.focal_length_35mm) / scale
    expected = d / (f * np.sqrt(np.cos(np.radians(30.0))))
    assert r.mm_per_px_at_card_centre == pytest.approx(expected, rel=1e-9)
    assert r.tilt_deg == pytest.approx(30.0, abs=1e-9)
    # And the marker sides, measured in the image, agree with it to first order.
    side_px = np.mean([np.sqrt(abs(np.linalg.det(np.stack([c[1] - c[0], c[3] - c[0]]))))
                       for c in r.marker_corners_px.values()])
    assert MARKER_MM / side_px == pytest.approx(r.mm_per_px_at_card_centre, rel=0.05)


def test_card_scene_is_deterministic_and_scalp_backdrop():
    kw = dict(image_size=SMALL, px_per_mm_at_card=4.0, pose=Pose(tilt_deg=30.0), rng=7)
    a = render_project_card_scene(background="scalp", **kw)
    b = render_project_card_scene(background="scalp", **kw)
    assert np.array_equal(a.image, b.image)
    c = render_project_card_scene(background="grey", **kw)
    inside = np.round(a.patch_centres_px).astype(int)
    # The card looks the same on either backdrop.
    diff = np.abs(a.image[inside[:, 1], inside[:, 0]].astype(int) - c.image[inside[:, 1], inside[:, 0]])
    assert diff.max() <= 12


# ------------------------------------------------------------------ grey target

def test_grey_target_field_matches_pixels():
    lighting = Lighting(vignetting=0.25, gradient_strength=0.4, gradient_direction_deg=30.0)
    g = render_grey_target(image_size=SMALL, lighting=lighting,
                           optics=Optics(blur_sigma_px=0.0, noise_sigma=0.004), rng=3, bit_depth=16)
    assert g.illumination_field.mean() == pytest.approx(1.0, abs=1e-5)
    lin = srgb_decode(g.image).mean(-1)
    a = (slice(20, 80), slice(20, 80))          # top-left: towards the light
    b = (slice(400, 460), slice(560, 620))      # bottom-right: darker
    measured = lin[a].mean() / lin[b].mean()
    truth = g.illumination_field[a].mean() / g.illumination_field[b].mean()
    assert truth > 1.3
    assert measured == pytest.approx(truth, rel=0.01)
    assert np.array_equal(g.image, render_grey_target(image_size=SMALL, lighting=lighting,
                                                      optics=Optics(blur_sigma_px=0.0, noise_sigma=0.004),
                                                      rng=3, bit_depth=16).image)


def test_chart_geometry_constants():
    c = chart_patch_centres_mm()
    assert c.shape == (24, 2)
    assert c[0, 0] < c[5, 0] and c[0, 1] < c[18, 1]  # dark skin top-left, white bottom-left
    assert CHART_WIDTH_MM == pytest.approx(279.0)


def test_reference_matched_spectra_reproduce_the_reference_under_d50():
    from calibration.colorimetry import delta_e2000

    matched = render_colorchecker_scene("D50", image_size=SMALL, background="grey", rng=0, spectra="reference")
    assert delta_e2000(matched.spectral_lab_d50, matched.reference_lab_d50).max() < 1e-6
    babel = render_colorchecker_scene("D50", image_size=SMALL, background="grey", rng=0)
    gap = delta_e2000(babel.spectral_lab_d50, babel.reference_lab_d50)
    assert 0.5 < gap.mean() < 1.2  # chart-to-chart variation of the BabelColor average
    # Same geometry and noise, slightly different colours.
    np.testing.assert_array_equal(matched.patch_centres_px, babel.patch_centres_px)
    assert np.abs(matched.camera_linear_srgb - babel.camera_linear_srgb).max() < 0.05
