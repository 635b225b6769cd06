"""The clipped-hair counter (`pipelines.trichoscopy.count_hairs`) on rendered close-ups.

Accuracy on real labelled frames is measured by benchmarks/real_trichoscopy.py (the real
set is not shipped); these tests pin what must hold on any photo: hairs are found where the
renderer put them, nothing is counted on bare skin, burned-in text and scale bars are not
hair, and the count does not depend on how the same scalp was framed or exposed.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from photostation.synthetic import Lighting, Pose, make_scalp_patch, render_trichoscopy
from pipelines.trichoscopy import burned_in_overlay, count_hairs, darkness_map

SIZE = (960, 720)
FIELD_MM = 6.0


@pytest.fixture(scope="module")
def close_up():
    rng = np.random.default_rng(5)
    # Single-hair units: how the counter splits touching hairs of one unit is measured on
    # real labelled frames (benchmarks/real_trichoscopy.py), not on the renderer's units.
    patch = make_scalp_patch(rng, 12.0, 12.0, density_per_cm2=120, vellus_share=0.0, hair_colour="black",
                             unit_size_probs=(1.0,))
    return patch, render_trichoscopy(patch, Pose(), image_size=SIZE, field_width_mm=FIELD_MM, clipped=True, rng=1)


def test_counts_the_rendered_hairs(close_up):
    _, render = close_up
    result = count_hairs(render.image, render.mm_per_px)
    assert render.hair_count > 20
    assert result.count == pytest.approx(render.hair_count, rel=0.15)
    # Every counted hair lies near a true emergence point or along its shaft.
    roots = result.roots_px
    distances = np.min(np.linalg.norm(roots[:, None, :] - render.emergence_px[None, :, :], axis=2), axis=1)
    assert np.median(distances) < 1.2 / render.mm_per_px  # within the 0.5-1 mm clipped shaft


def test_bare_skin_has_no_hairs():
    rng = np.random.default_rng(9)
    patch = make_scalp_patch(rng, 12.0, 12.0, density_per_cm2=0.0001, vellus_share=0.0)
    render = render_trichoscopy(patch, Pose(), image_size=SIZE, field_width_mm=FIELD_MM, clipped=True, rng=2)
    assert render.hair_count == 0
    assert count_hairs(render.image, render.mm_per_px).count <= 1


def test_burned_in_text_bar_and_scale_bar_are_not_hair(close_up):
    _, render = close_up
    plain = count_hairs(render.image, render.mm_per_px)
    marked = render.image.copy()
    h, w = marked.shape[:2]
    cv2.rectangle(marked, (0, 6), (w - 1, 40), (80, 80, 80), -1)  # a device's text bar
    cv2.putText(marked, "A095 1280x1024 2022/01/05 70x", (8, 32), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (60, 240, 220), 2)
    cv2.line(marked, (30, h - 60), (330, h - 60), (40, 40, 40), 2)  # a scale bar
    cv2.rectangle(marked, (335, h - 75), (420, h - 45), (60, 60, 60), -1)  # its label box
    cv2.putText(marked, "1.0 mm", (338, h - 52), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
    overlay = burned_in_overlay(marked)
    assert overlay[20, w // 2] and overlay[h - 60, 380]
    assert not overlay[h // 2, w // 2]
    result = count_hairs(marked, render.mm_per_px)
    assert result.excluded_overlay_pct > 3.0
    # No hair is counted on the text or the bar; hairs the overlay hides or cuts may change.
    rows, cols = result.roots_px[:, 1].astype(int), result.roots_px[:, 0].astype(int)
    assert not overlay[rows.clip(0, h - 1), cols.clip(0, w - 1)].any()
    touched = sum(1 for hair in plain.hairs if overlay[int(min(hair.root[1], h - 1)), int(min(hair.root[0], w - 1))]
                  or overlay[int(np.clip(hair.tip[1], 0, h - 1)), int(np.clip(hair.tip[0], 0, w - 1))])
    assert abs(result.count - plain.count) <= touched + 1


def test_darkness_ignores_exposure_and_white_balance(close_up):
    _, render = close_up
    image = render.image.astype(np.float32)
    dimmer = np.clip(image * 0.7 * np.array([1.0, 0.95, 0.8]), 0, 255).astype(np.uint8)
    a = darkness_map(render.image, render.mm_per_px)
    b = darkness_map(dimmer, render.mm_per_px)
    # 1 - V/V_skin is a ratio: a gain per channel changes V and V_skin alike (up to rounding).
    assert np.median(np.abs(a - b)) < 0.02


@pytest.mark.parametrize("kind", ["rotated", "darker", "warmer", "recompressed"])
def test_same_scalp_gives_the_same_count(close_up, kind):
    patch, render = close_up
    base = count_hairs(render.image, render.mm_per_px).count
    if kind == "rotated":  # the camera turned: the same hairs, framed differently in part
        image = np.ascontiguousarray(np.rot90(render.image))
    elif kind == "darker":
        image = render_trichoscopy(patch, Pose(), Lighting(exposure_ev=-0.5), image_size=SIZE,
                                   field_width_mm=FIELD_MM, clipped=True, rng=1).image
    elif kind == "warmer":
        image = render_trichoscopy(patch, Pose(), Lighting(white_balance_shift_mired=60.0), image_size=SIZE,
                                   field_width_mm=FIELD_MM, clipped=True, rng=1).image
    else:
        ok, data = cv2.imencode(".jpg", render.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    # The target is +-3 %; benchmarks/real_trichoscopy.py --invariance reports how far
    # real frames are from it. Here a re-rendered exposure or colour also changes the noise.
    assert count_hairs(image, render.mm_per_px).count == pytest.approx(base, rel=0.08, abs=1)


def test_rejects_a_scale_it_cannot_use(close_up):
    _, render = close_up
    with pytest.raises(ValueError, match="mm_per_px"):
        count_hairs(render.image, 0.0)


def test_ridge_strength_is_satos_tubeness():
    from skimage.filters import sato

    from pipelines.trichoscopy import ridge_strength

    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.random((240, 320)).astype(np.float32), (0, 0), 2.0)
    cv2.line(image, (20, 30), (300, 200), 1.0, 3)
    cv2.line(image, (40, 220), (280, 20), 0.6, 2)
    sigmas = [1.0, 1.5, 2.25]
    ours = ridge_strength(image, sigmas)
    reference = sato(image, sigmas=sigmas, black_ridges=False)
    inner = (slice(20, -20), slice(20, -20))
    assert np.abs(ours - reference)[inner].max() <= 0.03 * reference.max()
    # The lines are the strongest ridges in both.
    assert ours[inner].max() == pytest.approx(reference[inner].max(), rel=0.03)


def test_long_hair_is_told_from_clipped_hair(close_up):
    from pipelines.trichoscopy import hair_layout

    _, render = close_up
    clipped_share, clipped_cover = hair_layout(render.image, render.mm_per_px)
    rng = np.random.default_rng(11)
    patch = make_scalp_patch(rng, 12.0, 12.0, density_per_cm2=120, vellus_share=0.0, hair_colour="black")
    long_hair = render_trichoscopy(patch, Pose(), image_size=SIZE, field_width_mm=FIELD_MM, clipped=False, rng=1)
    long_share, long_cover = hair_layout(long_hair.image, long_hair.mm_per_px)
    assert clipped_share < 0.2 < 0.8 < long_share
    assert clipped_cover < 25.0 < long_cover
    # The same rule as a mask in the photo's pixels: the same share of the field.
    from pipelines.trichoscopy import hair_cover_mask
    cover = hair_cover_mask(long_hair.image, long_hair.mm_per_px)
    assert cover.shape == long_hair.image.shape[:2]
    assert 100.0 * cover.mean() == pytest.approx(long_cover, abs=1.0)
    long_count = count_hairs(long_hair.image, long_hair.mm_per_px)
    assert long_count.long_hair_share == pytest.approx(long_share)
    assert long_count.unclipped and not count_hairs(render.image, render.mm_per_px).unclipped
    # The renderer clips to 0.5-1 mm; long hair has many shafts longer than a stub.
    assert count_hairs(render.image, render.mm_per_px).long_shafts <= 1 and long_count.long_shafts >= 2


def test_fine_photos_counted_at_the_working_scale_agree_with_full_resolution(close_up, monkeypatch):
    import pipelines.trichoscopy as trichoscopy

    _, render = close_up
    # The same scalp sampled 2.4x finer (a 70x dermatoscope) is counted on a 5 um/px copy.
    fine = cv2.resize(render.image, None, fx=2.4, fy=2.4, interpolation=cv2.INTER_CUBIC)
    scale = render.mm_per_px / 2.4
    assert scale * 1000 < trichoscopy.WORK_UM_PER_PX
    at_work_scale = count_hairs(fine, scale)
    monkeypatch.setattr(trichoscopy, "WORK_UM_PER_PX", None)
    at_full = count_hairs(fine, scale)
    assert at_work_scale.count == pytest.approx(at_full.count, rel=0.1, abs=1)
    assert at_work_scale.mask.shape == fine.shape[:2]
    # Roots come back in the photo's pixels: each near a root found at full resolution.
    nearest = np.min(np.linalg.norm(at_work_scale.roots_px[:, None] - at_full.roots_px[None], axis=2), axis=1)
    assert np.median(nearest) * scale < 0.1  # mm
