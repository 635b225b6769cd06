"""The Compare page's views of a pair (pipelines/pair_views.py) on small synthetic images."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipelines.pair_views import (LEGEND, NO_PHOTO_GREY, STATUS_RGB, blend, flicker_gif, hair_overlay,
                                  registered_followup, wipe, zoom)


def noise(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def test_wipe_takes_the_left_columns_from_a_and_the_right_from_b():
    a, b = noise((20, 100, 3), 1), noise((20, 100, 3), 2)
    out = wipe(a, b, 0.3)
    at = 30
    np.testing.assert_array_equal(out[:, :at - 3], a[:, :at - 3])
    np.testing.assert_array_equal(out[:, at + 2:], b[:, at + 2:])
    # The divider: columns near the divide that are neither image's.
    near = range(at - 3, at + 2)
    assert any(not np.array_equal(out[:, x], a[:, x]) and not np.array_equal(out[:, x], b[:, x]) for x in near)
    np.testing.assert_array_equal(wipe(a, b, 1.0)[:, :95], a[:, :95])
    np.testing.assert_array_equal(wipe(a, b, 0.0)[:, 5:], b[:, 5:])


def test_blend_is_the_weighted_mean():
    a, b = noise((8, 9, 3), 3), noise((8, 9, 3), 4)
    for alpha in (0.0, 0.25, 0.5, 1.0):
        expected = (1 - alpha) * a.astype(float) + alpha * b.astype(float)
        out = blend(a, b, alpha)
        assert out.dtype == np.uint8
        assert np.abs(out.astype(float) - expected).max() <= 0.5 + 1e-6
    with pytest.raises(ValueError):
        blend(a, b, 1.5)
    with pytest.raises(ValueError):
        blend(a, b[:, :5], 0.5)


def test_flicker_gif_has_two_labelled_frames_and_loops_forever():
    a = np.full((60, 80, 3), 40, np.uint8)
    b = np.full((60, 80, 3), 200, np.uint8)
    data = flicker_gif(a, b, period_ms=450)
    with Image.open(io.BytesIO(data)) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 2
        assert gif.info.get("loop") == 0
        frames = []
        for i in range(2):
            gif.seek(i)
            assert gif.info.get("duration") == 450
            frames.append(np.asarray(gif.convert("RGB")))
    # Away from the label each frame shows its image; the label (top left) is burned in.
    assert np.abs(frames[0][40:, 40:].astype(int) - 40).max() <= 2
    assert np.abs(frames[1][40:, 40:].astype(int) - 200).max() <= 2
    assert (np.abs(frames[1][:12, :30].astype(int) - 200) > 50).any()
    # Different words on the two frames: the labels differ even between identical images.
    with Image.open(io.BytesIO(flicker_gif(a, a))) as same:
        same.seek(0)
        first = np.asarray(same.convert("RGB"))
        same.seek(1)
        second = np.asarray(same.convert("RGB"))
    assert not np.array_equal(first, second)


def test_registered_followup_moves_a_square_to_its_place_at_other_downscales():
    # Originals: baseline 800 x 600, follow-up 400 x 300; follow-up (x, y) -> baseline (2x + 100, 2y + 60).
    matrix = np.array([[2.0, 0, 100], [0, 2.0, 60], [0, 0, 1]])
    follow_screen = np.zeros((150, 200, 3), np.uint8)  # follow-up at 1/2
    follow_screen[50:70, 40:60] = 255  # original follow-up x 80..120, y 100..140
    base_screen = np.zeros((150, 200, 3), np.uint8)  # baseline at 1/4
    out = registered_followup(base_screen, follow_screen, matrix, (800, 600), (400, 300))
    assert out.shape == base_screen.shape
    # Expected in baseline originals: x 260..340, y 260..340 -> at 1/4: x 65..85, y 65..85.
    bright = np.argwhere(out[..., 0] > 128)
    assert bright[:, 1].min() >= 64 and bright[:, 1].max() <= 85
    assert bright[:, 0].min() >= 64 and bright[:, 0].max() <= 85
    assert (out[67:83, 67:83] == 255).all()
    # The follow-up covers baseline x from 100 (1/4: 25): left of it there is no photo.
    assert (out[:, :24] == NO_PHOTO_GREY).all()
    assert (out[20:60, 30:60] == 0).all()


def test_hair_overlay_marks_each_status_in_its_colour_at_the_root():
    rgb = np.full((120, 160, 3), 128, np.uint8)
    hairs = [{"root": [40.0, 40.0], "status": "matched"}, {"root": [120.0, 40.0], "status": "lost"},
             {"root": [40.0, 180.0], "status": "lost"}]
    # factor 0.5: roots drawn at (20, 20), (60, 20), (20, 90); added at file (240, 180) -> (120, 90).
    out = hair_overlay(rgb, hairs, 0.5, removed=[2], added=[[240.0, 180.0]], numbers=False, radius_px=5)

    def colours_near(x, y):
        window = out[y - 8:y + 9, x - 8:x + 9].reshape(-1, 3)
        return {tuple(int(v) for v in c) for c in window}

    assert STATUS_RGB["matched"] in colours_near(20, 20)
    assert STATUS_RGB["lost"] in colours_near(60, 20)
    assert STATUS_RGB["lost"] not in colours_near(20, 20)
    assert STATUS_RGB["removed"] in colours_near(20, 90)
    assert STATUS_RGB["lost"] not in colours_near(20, 90)
    assert STATUS_RGB["added"] in colours_near(120, 90)
    assert out[5, 150].tolist() == [128, 128, 128]  # untouched away from the hairs
    assert len(set(STATUS_RGB.values())) == len(STATUS_RGB) and set(LEGEND) == set(STATUS_RGB)
    numbered = hair_overlay(rgb, hairs, 0.5, removed=[2], added=[[240.0, 180.0]], numbers=True, radius_px=5)
    assert (numbered[8:22, 27:45] != out[8:22, 27:45]).any()  # "0" beside the first hair
    with pytest.raises(ValueError):
        hair_overlay(rgb, hairs, 0.5, removed=[3])
    with pytest.raises(ValueError):
        hair_overlay(rgb, [{"root": [1, 1], "status": "new"}], 0.5, side="baseline")


def test_zoom_keeps_the_centre_pixel_and_clamps_at_the_border():
    rgb = noise((90, 120, 3), 5)
    px, py = 47, 31
    view, box = zoom(rgb, ((px + 0.5) / 120, (py + 0.5) / 90), 4, cross=False)
    assert view.shape == rgb.shape
    x0, y0, x1, y1 = box
    assert (x1 - x0, y1 - y0) == (30, 22)
    assert x0 <= px < x1 and y0 <= py < y1
    np.testing.assert_array_equal(view[45, 60], rgb[py, px])
    # With the cross, the centre pixel itself stays visible.
    crossed, _ = zoom(rgb, ((px + 0.5) / 120, (py + 0.5) / 90), 4)
    np.testing.assert_array_equal(crossed[45, 60], rgb[py, px])
    assert (crossed != view).any()
    # At a corner the crop stays inside the image.
    corner, box = zoom(rgb, (0.0, 1.0), 3, cross=False)
    assert box == (0, 60, 40, 90)
    np.testing.assert_array_equal(corner[-1, 0], rgb[-1, 0])
    whole, box = zoom(rgb, (0.5, 0.5), 1, cross=False)
    assert box == (0, 0, 120, 90)
    np.testing.assert_array_equal(whole, rgb)
    smooth, _ = zoom(rgb, (0.5, 0.5), 2, method="cubic", cross=False)
    assert smooth.shape == rgb.shape and smooth.dtype == np.uint8
    with pytest.raises(ValueError):
        zoom(rgb, (0.5, 0.5), 0.5)
