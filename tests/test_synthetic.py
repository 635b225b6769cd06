"""Tests of the synthetic photo renderer (scene, camera, trichoscopy, crown, EXIF, samples)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import exifread
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photostation.synthetic.camera import (Lighting, Optics, Pose, focal_length_px,
                                           intrinsic_matrix, project_points,
                                           scalp_to_image_homography, srgb_decode)
from photostation.synthetic.crown import CrownHead, evolve_crown, render_crown
from photostation.synthetic.exif_writer import ExifFields, encode_jpeg, write_jpeg
from photostation.synthetic.samples import generate_sample_archive
from photostation.synthetic.scene import evolve_patch, make_scalp_patch
from photostation.synthetic.trichoscopy import hairs_in_frame, render_trichoscopy

# Small frames at the real dermatoscope resolution (6.25 um/px) keep the tests fast.
SMALL = (640, 480)
SMALL_FIELD_MM = 4.0
CLEAN = Optics(blur_sigma_px=0.0, noise_sigma=0.0)
FLAT = Lighting(vignetting=0.0)


@pytest.fixture(scope="module")
def patch():
    return make_scalp_patch(np.random.default_rng(7), 10.0, 10.0, 180.0, 0.15)


def small_tricho(patch, pose=Pose(), lighting=FLAT, optics=CLEAN, **kw):
    kw.setdefault("rng", 1)
    return render_trichoscopy(patch, pose, lighting, optics, image_size=SMALL,
                              field_width_mm=SMALL_FIELD_MM, **kw)


def luminance(img):
    lin = srgb_decode(img)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


# ------------------------------------------------------------------ scene

def test_patch_density_units_and_spacing():
    p = make_scalp_patch(np.random.default_rng(3), 20.0, 20.0, 200.0, 0.1)
    assert p.hair_count == round(200.0 * 4.0)
    sizes = np.array([len(u.hairs) for u in p.units if u.hairs])
    assert sizes.min() >= 1 and sizes.max() <= 4
    share = np.bincount(sizes, minlength=5)[1:] / len(sizes)
    assert abs(share[0] - 0.30) < 0.08 and abs(share[1] - 0.45) < 0.08
    assert any(not u.hairs for u in p.units)  # empty openings exist
    xy = np.array([(u.x_mm, u.y_mm) for u in p.units])
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy)) * 99
    assert d.min() > 0.2  # openings never coincide
    widths = np.array([h.width_um for h in p.hairs])
    vellus = widths < 30
    assert abs(vellus.mean() - 0.1) < 0.02
    assert widths[~vellus].min() >= 60 and widths[~vellus].max() <= 110
    ids = [h.hair_id for h in p.hairs]
    assert len(set(ids)) == len(ids)


def test_thinning_patch_has_more_single_units():
    thin = make_scalp_patch(np.random.default_rng(4), 20, 20, 80.0, 0.2)
    healthy = make_scalp_patch(np.random.default_rng(4), 20, 20, 220.0, 0.05)
    single = lambda p: np.mean([len(u.hairs) == 1 for u in p.units if u.hairs])  # noqa: E731
    assert single(thin) > single(healthy) + 0.15


def test_evolve_patch_ids_and_change(patch):
    follow, truth = evolve_patch(patch, np.random.default_rng(5), days=180,
                                 density_change_pct=15.0, width_change_um=5.0)
    base_ids = {h.hair_id for h in patch.hairs}
    new_ids = {h.hair_id for h in follow.hairs}
    assert set(truth.matched_hair_ids) | set(truth.lost_hair_ids) == base_ids
    assert not set(truth.matched_hair_ids) & set(truth.lost_hair_ids)
    assert new_ids == set(truth.matched_hair_ids) | set(truth.new_hair_ids)
    assert min(truth.new_hair_ids) > max(base_ids)
    assert abs(follow.hair_count - round(patch.hair_count * 1.15)) <= 1
    assert truth.followup_hair_count == follow.hair_count
    assert abs(truth.density_change_pct - 15.0) < 0.5
    before = {h.hair_id: h for h in patch.hairs}
    grown = [h.length_mm - before[h.hair_id].length_mm for h in follow.hairs
             if h.hair_id in before]
    assert 0.3 * 180 < np.mean(grown) < 0.4 * 180
    widened = [h.width_um - before[h.hair_id].width_um for h in follow.hairs
               if h.hair_id in before]
    assert 3.5 < np.mean(widened) < 6.5
    # Surviving hairs stay in their openings.
    pos = {u.follicle_id: (u.x_mm, u.y_mm) for u in patch.units}
    for u in follow.units:
        if u.follicle_id in pos:
            assert pos[u.follicle_id] == (u.x_mm, u.y_mm)

    loss, t2 = evolve_patch(patch, np.random.default_rng(6), density_change_pct=-20.0)
    assert abs(t2.density_change_pct + 20.0) < 0.5
    assert len(t2.lost_hair_ids) > len(t2.new_hair_ids)


def test_evolve_patch_relays_long_hair_but_keeps_the_follicles(patch):
    still, _ = evolve_patch(patch, np.random.default_rng(7))
    combed, _ = evolve_patch(patch, np.random.default_rng(7), relay_deg=60.0)
    lie = {h.hair_id: h.lie_direction_deg for h in patch.hairs}
    kept = {h.hair_id: h for h in patch.hairs}
    turned = [abs(h.lie_direction_deg - lie[h.hair_id]) for h in combed.hairs if h.hair_id in lie]
    unturned = [abs(h.lie_direction_deg - lie[h.hair_id]) for h in still.hairs if h.hair_id in lie]
    assert max(unturned) == 0.0 and np.median(turned) > 5.0
    # Openings and the direction at the opening are the follicle's: they stay.
    for h in combed.hairs:
        if h.hair_id in kept:
            assert h.direction_deg == kept[h.hair_id].direction_deg
    assert [(u.x_mm, u.y_mm) for u in combed.units[:len(patch.units)]] == [(u.x_mm, u.y_mm) for u in patch.units]


# ------------------------------------------------------------------ camera

def test_focal_length_and_homography_decomposition():
    size = (1600, 1200)
    pose = Pose(rotation_deg=17.0, tilt_deg=9.0, tilt_axis_deg=35.0, scale=1.1,
                shift_mm=(0.7, -0.4))
    h = scalp_to_image_homography(pose, image_size=size, focal_length_35mm=40.0,
                                  field_width_mm=10.0, centre_mm=(5.0, 5.0))
    k = intrinsic_matrix(size, 40.0)
    assert k[0, 0] == pytest.approx(40.0 / 36.0 * 1600) == focal_length_px(40.0, 1600)
    m = np.linalg.inv(k) @ h
    r1, r2 = m[:, 0], m[:, 1]
    assert np.linalg.norm(r1) == pytest.approx(np.linalg.norm(r2), rel=1e-9)
    assert r1 @ r2 == pytest.approx(0.0, abs=1e-9 * np.linalg.norm(r1) ** 2)
    r3 = np.cross(r1, r2) / np.linalg.norm(r1) ** 2
    assert np.degrees(np.arccos(abs(r3[2]))) == pytest.approx(9.0, abs=1e-6)
    # The aimed point lands on the principal point.
    c = project_points(h, np.array([[5.7, 4.6]]))[0]
    assert c == pytest.approx([799.5, 599.5], abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(rot=st.floats(-30, 30), scale=st.floats(0.8, 1.25))
def test_rotation_and_scale_of_untilted_view(rot, scale):
    h = scalp_to_image_homography(Pose(rotation_deg=rot, scale=scale), image_size=(800, 600),
                                  focal_length_35mm=50.0, field_width_mm=10.0)
    # Untilted: a similarity; +x of the scalp appears rotated clockwise on screen by rot.
    a = project_points(h, np.array([[0.0, 0.0], [1.0, 0.0]]))
    d = a[1] - a[0]
    assert np.degrees(np.arctan2(d[1], d[0])) == pytest.approx(rot, abs=1e-6)
    assert np.hypot(*d) == pytest.approx(80.0 * scale, rel=1e-9)


# ------------------------------------------------------------------ trichoscopy

def test_same_seed_same_bytes_different_seed_differs(patch):
    a = small_tricho(patch, optics=Optics(), rng=11)
    b = small_tricho(patch, optics=Optics(), rng=11)
    c = small_tricho(patch, optics=Optics(), rng=12)
    assert encode_jpeg(a.image) == encode_jpeg(b.image)
    assert not np.array_equal(a.image, c.image)
    p2 = make_scalp_patch(np.random.default_rng(7), 10.0, 10.0, 180.0, 0.15)
    assert np.array_equal(small_tricho(p2, optics=Optics(), rng=11).image, a.image)


def test_follicles_project_onto_dark_openings(patch):
    pose = Pose(rotation_deg=23.0, tilt_deg=6.0, tilt_axis_deg=70.0, scale=1.05,
                shift_mm=(0.4, -0.3))
    # A wider field (9.4 um/px) so that enough openings are in view.
    r = render_trichoscopy(patch, pose, FLAT, CLEAN, image_size=(640, 480), field_width_mm=6.0,
                           rng=1)
    lum = luminance(r.image)
    skin = np.median(lum[~r.hair_mask])
    h = r.scalp_to_image
    centres = np.array([(u.x_mm, u.y_mm) for u in patch.units if u.hairs])
    px = project_points(h, centres)
    ok = (px[:, 0] > 2) & (px[:, 0] < 637) & (px[:, 1] > 2) & (px[:, 1] < 477)
    assert ok.sum() > 15
    at = lum[np.round(px[ok, 1]).astype(int), np.round(px[ok, 0]).astype(int)]
    assert np.median(at) < 0.6 * skin
    # Control: the same points 0.4 mm away are not systematically dark.
    off = project_points(h, centres + [0.4, 0.0])
    ok2 = (off[:, 0] > 2) & (off[:, 0] < 637) & (off[:, 1] > 2) & (off[:, 1] < 477)
    at2 = lum[np.round(off[ok2, 1]).astype(int), np.round(off[ok2, 0]).astype(int)]
    assert np.median(at2) > np.median(at) * 1.5


def test_hair_count_density_and_regions(patch):
    r = small_tricho(patch, Pose(rotation_deg=-8.0, tilt_deg=4.0))
    w, h = SMALL
    e = r.emergence_px
    assert r.hair_count == len(e) > 10
    assert np.all((e[:, 0] >= -0.5) & (e[:, 0] < w - 0.5) & (e[:, 1] >= -0.5) & (e[:, 1] < h - 0.5))
    assert np.array_equal(np.sort(r.hair_ids), hairs_in_frame(patch, r.scalp_to_image, SMALL))
    assert r.density_per_cm2 == pytest.approx(r.hair_count / r.field_area_cm2)
    nominal_area = SMALL_FIELD_MM * SMALL_FIELD_MM * h / w / 100
    assert r.field_area_cm2 == pytest.approx(nominal_area, rel=0.05)
    assert r.follicular_unit_count == len(np.unique(r.follicle_ids)) <= r.hair_count
    assert r.vellus_pct == pytest.approx(100 * np.mean(r.width_um < 30))
    frame = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]])
    assert r.count_in_region(frame) == r.hair_count
    left = np.zeros((h, w), bool)
    left[:, : w // 2] = True
    assert r.count_in_region(left) == int((np.round(e[:, 0]) < w // 2).sum())
    # Hair pixels are really drawn: the mask is darker than the skin.
    lum = luminance(r.image)
    assert 0.02 < r.hair_mask.mean() < 0.6
    assert lum[r.hair_mask].mean() < 0.5 * lum[~r.hair_mask].mean()


def test_clipped_lengths_and_widths(patch):
    r = small_tricho(patch)
    long_enough = np.array([
        h.projected_length_mm >= 1.0 for u in patch.units for h in u.hairs
        if h.hair_id in set(r.hair_ids.tolist())])
    order = {hid: i for i, hid in enumerate(r.hair_ids)}
    idx = [order[h.hair_id] for u in patch.units for h in u.hairs if h.hair_id in order]
    vis = r.visible_length_mm[idx]
    assert np.all((vis[long_enough] >= 0.5) & (vis[long_enough] <= 1.0))
    chord_mm = np.linalg.norm(r.tip_px - r.emergence_px, axis=1) * r.mm_per_px
    sel = np.array(idx)[long_enough]
    inside = np.all((r.tip_px[sel] > 0) & (r.tip_px[sel] < np.array(SMALL) - 1), axis=1)
    assert np.all((chord_mm[sel][inside] > 0.45) & (chord_mm[sel][inside] <= 1.0 + 1e-6))
    expected = r.width_um / (r.mm_per_px * 1000.0)
    assert np.allclose(r.width_px, expected, rtol=1e-9)
    assert r.mm_per_px == pytest.approx(SMALL_FIELD_MM / SMALL[0], rel=1e-9)
    # Closer camera: the same hairs are 1.2x wider in pixels (up to perspective).
    closer = small_tricho(patch, Pose(scale=1.2))
    assert closer.mm_per_px == pytest.approx(r.mm_per_px / 1.2, rel=1e-9)
    common, ia, ib = np.intersect1d(r.hair_ids, closer.hair_ids, return_indices=True)
    assert len(common) > 5
    assert np.allclose(closer.width_px[ib] / r.width_px[ia], 1.2, rtol=0.01)
    # Drawn widths: the hair mask along a clipped hair is about width_px wide.
    sizes = {u.follicle_id: len(u.hairs) for u in patch.units}
    single = np.array([sizes[f] == 1 for f in r.follicle_ids])
    inner = np.all((np.minimum(r.emergence_px, r.tip_px) > 45)
                   & (np.maximum(r.emergence_px, r.tip_px) < np.array(SMALL) - 45), axis=1)
    i = int(np.argmax(r.width_px * (r.visible_length_mm > 0.6) * single * inner))
    mid = (r.emergence_px[i] + r.tip_px[i]) / 2
    d = r.tip_px[i] - r.emergence_px[i]
    n = np.array([-d[1], d[0]]) / np.hypot(*d)
    ts = np.arange(-40, 40.5, 0.5)
    pts = np.round(mid + ts[:, None] * n).astype(int)
    ok = (pts[:, 0] >= 0) & (pts[:, 0] < SMALL[0]) & (pts[:, 1] >= 0) & (pts[:, 1] < SMALL[1])
    assert ok.all()
    across = r.hair_mask[pts[:, 1], pts[:, 0]]
    c = len(ts) // 2  # contiguous run through the axis (a sibling hair may touch it)
    lo = c - np.argmin(across[c::-1]) + 1
    hi = c + np.argmin(across[c:])
    assert across[c] and 0.7 * r.width_px[i] < (hi - lo) * 0.5 < 1.3 * r.width_px[i] + 1.5


def test_unclipped_hairs_are_long_and_cross(patch):
    r = small_tricho(patch, clipped=False)
    assert r.hair_mask.mean() > small_tricho(patch).hair_mask.mean() * 2
    assert np.median(r.visible_length_mm) > 2.0


def test_exposure_halves_linear_light(patch):
    a = small_tricho(patch, bit_depth=16)
    b = small_tricho(patch, lighting=replace(FLAT, exposure_ev=-1.0), bit_depth=16)
    assert a.image.dtype == np.uint16
    ratio = srgb_decode(b.image).mean() / srgb_decode(a.image).mean()
    assert ratio == pytest.approx(0.5, abs=0.01)


def test_gradient_darkens_one_side(patch):
    a = srgb_decode(small_tricho(patch, bit_depth=16).image).mean(axis=(0, 2))
    g = srgb_decode(small_tricho(patch, lighting=replace(FLAT, gradient_strength=0.5),
                                 bit_depth=16).image).mean(axis=(0, 2))
    rel = g / a
    strip = SMALL[0] // 40
    left, right = rel[:strip].mean(), rel[-strip:].mean()
    assert left > 0.97
    assert right / left == pytest.approx(0.5, abs=0.04)
    down = srgb_decode(small_tricho(patch, lighting=replace(
        FLAT, gradient_strength=0.5, gradient_direction_deg=90.0)).image).mean(axis=(1, 2))
    assert down[-5:].mean() < 0.65 * down[:5].mean()


def test_glare_saturates_small_areas(patch):
    plain = small_tricho(patch)
    glare = small_tricho(patch, lighting=replace(FLAT, glare=0.8))
    sat = lambda im: np.mean(np.all(im >= 254, axis=2))  # noqa: E731
    assert sat(plain.image) == 0.0
    assert 0.002 < sat(glare.image) < 0.3


def test_white_balance_shift_warms_image(patch):
    a = srgb_decode(small_tricho(patch).image).mean(axis=(0, 1))
    w = srgb_decode(small_tricho(patch, lighting=replace(
        FLAT, white_balance_shift_mired=60.0)).image).mean(axis=(0, 1))
    assert (w[0] / w[2]) > 1.15 * (a[0] / a[2])


# ------------------------------------------------------------------ crown

@pytest.fixture(scope="module")
def crown():
    return render_crown(CrownHead(seed=3), image_size=(640, 480), rng=2)


def test_crown_masks_and_coverage(crown):
    r = crown
    assert r.image.shape == (480, 640, 3)
    assert r.coverage_pct == pytest.approx(
        100 * (r.hair_mask & r.scalp_mask).sum() / r.scalp_mask.sum())
    assert 50 < r.coverage_pct < 100
    assert not r.scalp_mask[:20, :20].any() and not r.scalp_mask[-20:, -20:].any()
    assert r.scalp_mask.mean() > 0.4  # the head fills most of the frame
    lum = luminance(r.image)
    assert lum[:20, :20].mean() < 0.1  # dark backdrop in the corners
    # Thinning towards the whorl: less hair near it than in the mid-periphery.
    yy, xx = np.mgrid[:480, :640]
    d = np.hypot(xx - r.whorl_px[0], yy - r.whorl_px[1]) * r.mm_per_px
    near = r.scalp_mask & (d < 15)
    ring = r.scalp_mask & (d > 60) & (d < 75)
    assert r.hair_mask[near].mean() < r.hair_mask[ring].mean() - 0.2
    # Strands are thin: most hair pixels border non-hair within 3 px on a thinned area.
    assert lum[near & ~r.hair_mask].mean() > lum[near & r.hair_mask].mean()


def test_crown_homography_and_follow_up(crown):
    head = crown.head
    h = crown.scalp_to_image
    centre = project_points(h, np.array([[0.0, 0.0]]))[0].round().astype(int)
    assert crown.scalp_mask[centre[1], centre[0]]
    edge = project_points(h, np.array([[head.head_width_mm / 2 + 8, 0.0]]))[0].round().astype(int)
    assert not crown.scalp_mask[edge[1], edge[0]]
    better = evolve_crown(head, np.random.default_rng(1), 6.0)
    worse = evolve_crown(head, np.random.default_rng(1), -6.0)
    assert better.thinning_severity < head.thinning_severity < worse.thinning_severity
    rb = render_crown(better, image_size=(640, 480), rng=2)
    rw = render_crown(worse, image_size=(640, 480), rng=2)
    assert rb.coverage_pct > crown.coverage_pct + 2 > rw.coverage_pct + 4
    tilted = render_crown(head, Pose(rotation_deg=12, tilt_deg=8, scale=1.1),
                          image_size=(640, 480), rng=2)
    assert tilted.mm_per_px < crown.mm_per_px
    assert np.array_equal(render_crown(head, image_size=(640, 480), rng=2).image, crown.image)


# ------------------------------------------------------------------ EXIF

CET = timezone(timedelta(hours=1))


def full_fields(**kw):
    f = ExifFields(make="Canon", model="Canon EOS R8", serial="083021001742",
                   lens="RF24-105mm F4-7.1 IS STM", focal_length_mm=50.0, focal_length_35mm=50,
                   exposure_time_s=Fraction(1, 125), f_number=8.0, iso=100, flash_fired=True,
                   white_balance="manual", software="Firmware Version 1.3.0",
                   captured_at=datetime(2026, 2, 2, 9, 14, 3, 456000, tzinfo=CET),
                   modified_at=datetime(2026, 2, 5, 11, 0, 0, tzinfo=CET), orientation=1)
    return replace(f, **kw)


def read_exifread(path):
    with open(path, "rb") as fh:
        return {k: v for k, v in exifread.process_file(fh, details=False).items()}


def test_exif_roundtrip_exifread(tmp_path):
    img = np.full((90, 120, 3), 128, np.uint8)
    p = write_jpeg(tmp_path / "a.jpg", img, full_fields(), quality=90)
    t = read_exifread(p)
    s = lambda k: str(t[k].printable).strip()  # noqa: E731
    assert s("Image Make") == "Canon" and s("Image Model") == "Canon EOS R8"
    assert s("EXIF BodySerialNumber") == "083021001742"
    assert s("EXIF LensModel") == "RF24-105mm F4-7.1 IS STM"
    assert t["EXIF FocalLength"].values[0] == Fraction(50)
    assert t["EXIF FocalLengthIn35mmFilm"].values[0] == 50
    assert t["EXIF ExposureTime"].values[0] == Fraction(1, 125)
    assert t["EXIF FNumber"].values[0] == Fraction(8)
    assert t["EXIF ISOSpeedRatings"].values[0] == 100
    assert t["EXIF Flash"].values[0] == 0x09
    assert t["EXIF WhiteBalance"].values[0] == 1
    assert s("Image Software") == "Firmware Version 1.3.0"
    assert s("EXIF DateTimeOriginal") == "2026:02:02 09:14:03"
    assert s("EXIF SubSecTimeOriginal") == "456"
    assert s("EXIF OffsetTimeOriginal") == "+01:00"
    assert s("Image DateTime") == "2026:02:05 11:00:00"
    assert t["Image Orientation"].values[0] == 1
    assert t["EXIF ExifImageWidth"].values[0] == 120
    assert t["EXIF ExifImageLength"].values[0] == 90
    # Exif sub-IFD tags really live in 0x8769 (Pillow's view).
    from PIL import Image
    with Image.open(p) as im:
        ex = im.getexif()
        assert ex[0x010F] == "Canon" and 0x9003 not in ex
        assert ex.get_ifd(0x8769)[0x9003] == "2026:02:02 09:14:03"
        assert ex.get_ifd(0x8769)[0xA431] == "083021001742"


def test_exif_defaults_omissions_and_none(tmp_path):
    img = np.zeros((40, 60, 3), np.uint16)
    naive = datetime(2026, 8, 3, 10, 0, 0, 7000)
    f = ExifFields(make="FotoFinder", model="medicam 1000s", flash_fired=False,
                   white_balance="auto", captured_at=naive)
    t = read_exifread(write_jpeg(tmp_path / "b.jpg", img, f))
    assert str(t["Image DateTime"]) == "2026:08:03 10:00:00"  # defaults to captured_at
    assert str(t["EXIF SubSecTimeOriginal"]) == "007"
    assert "EXIF OffsetTimeOriginal" not in t
    assert t["EXIF Flash"].values[0] == 0x10 and t["EXIF WhiteBalance"].values[0] == 0
    t = read_exifread(write_jpeg(tmp_path / "c.jpg", img,
                                 replace(f, omit=frozenset({"DateTimeOriginal"}))))
    assert "EXIF DateTimeOriginal" not in t and "Image DateTime" in t
    t = read_exifread(write_jpeg(tmp_path / "d.jpg", img, None))
    assert not any(k.startswith(("EXIF", "Image")) for k in t)
    with pytest.raises(ValueError):
        encode_jpeg(img, replace(f, omit=frozenset({"NoSuchTag"})))
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
def test_exif_agrees_with_exiftool(tmp_path):
    p = write_jpeg(tmp_path / "e.jpg", np.full((30, 40, 3), 90, np.uint8), full_fields())
    out = json.loads(subprocess.run(["exiftool", "-j", "-n", str(p)], check=True,
                                    capture_output=True, text=True).stdout)[0]
    assert out["Make"] == "Canon" and out["Model"] == "Canon EOS R8"
    assert str(out["SerialNumber"]) == "083021001742"
    assert out["LensModel"] == "RF24-105mm F4-7.1 IS STM"
    assert out["FocalLength"] == 50 and out["FocalLengthIn35mmFormat"] == 50
    assert out["ExposureTime"] == pytest.approx(1 / 125) and out["FNumber"] == 8
    assert out["ISO"] == 100 and out["Flash"] == 9 and out["WhiteBalance"] == 1
    assert out["Software"] == "Firmware Version 1.3.0"
    assert out["DateTimeOriginal"] == "2026:02:02 09:14:03"
    assert str(out["SubSecTimeOriginal"]) == "456"
    assert out["OffsetTimeOriginal"] == "+01:00"
    assert out["ModifyDate"] == "2026:02:05 11:00:00"
    assert out["Orientation"] == 1
    assert out["ExifImageWidth"] == 40 and out["ExifImageHeight"] == 30


# ------------------------------------------------------------------ sample archive

@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    return generate_sample_archive(out, seed=0, image_size=(320, 240))


def test_archive_layout_and_manifest(archive):
    out = archive.out_dir
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert files == sorted(f"{p}/{v}/{w}.jpg" for p in ("P001", "P002", "P003")
                           for v in ("baseline", "month-6")
                           for w in ("vertex", "tricho-vertex", "tricho-midscalp"))
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(out / "manifest.csv") as f:
        assert f.readline().strip() == "patient,visit,view,operator,station,site,visit_date"
    visits = [r for r in rows if r["view"] == ""]
    photos = [r for r in rows if r["view"]]
    assert len(visits) == 6 and len(photos) == 12
    assert all(r["site"] for r in photos) and {r["view"] for r in photos} == {
        "tricho-vertex", "tricho-midscalp"}
    dates = {(r["patient"], r["visit"]): datetime.fromisoformat(r["visit_date"]) for r in visits}
    assert all(r["operator"].startswith("op-") and r["station"].startswith("station-")
               for r in visits)
    for p in ("P001", "P002"):
        assert abs((dates[(p, "month-6")] - dates[(p, "baseline")]).days - 182) <= 21
    assert (dates[("P003", "month-6")] - dates[("P003", "baseline")]).days == 230
    assert dates[("P001", "baseline")].date().isoformat() == "2026-02-02"


def test_archive_ground_truth_story(archive):
    gt = json.loads(archive.ground_truth_path.read_text())
    assert gt["seed"] == 0 and gt["generator"]
    assert len(gt["photos"]) == 18 and len(gt["pairs"]) == 9
    tv = gt["photos"]["P001/baseline/tricho-vertex"]
    assert tv["clipped"] is True
    assert gt["photos"]["P001/baseline/tricho-midscalp"]["clipped"] is False
    for key in ("mm_per_px", "hair_count", "follicular_unit_count", "density_per_cm2",
                "field_area_cm2", "mean_shaft_width_um", "vellus_pct", "scalp_to_image",
                "pose", "lighting", "optics", "exif"):
        assert key in tv
    assert "coverage_pct" in gt["photos"]["P002/month-6/vertex"]
    p1, p2 = gt["pairs"]["P001/tricho-vertex"], gt["pairs"]["P002/tricho-vertex"]
    assert 10 <= p1["density_change_pct"] <= 15 and abs(p2["density_change_pct"]) <= 2
    assert gt["pairs"]["P001/vertex"]["coverage_change_pts"] > 1.0
    assert abs(gt["pairs"]["P002/vertex"]["coverage_change_pts"]) < 1.0
    for pair in gt["pairs"].values():
        assert np.asarray(pair["followup_to_baseline"]).shape == (3, 3)
    kinds = {d["kind"] for d in gt["drift"]}
    assert {"schedule", "exposure_settings", "camera_body", "timestamp", "editing_software",
            "lighting", "angle"} <= kinds
    # The follow-up -> baseline homography maps truth points onto each other.
    b = np.asarray(gt["photos"]["P003/baseline/vertex"]["scalp_to_image"])
    f = np.asarray(gt["photos"]["P003/month-6/vertex"]["scalp_to_image"])
    pt = np.array([[10.0, 20.0]])
    f2b = np.asarray(gt["pairs"]["P003/vertex"]["followup_to_baseline"])
    assert np.allclose(project_points(f2b, project_points(f, pt)), project_points(b, pt))


def test_archive_exif_tells_the_capture_story(archive):
    out = archive.out_dir
    base = read_exifread(out / "P001/baseline/vertex.jpg")
    follow = read_exifread(out / "P001/month-6/tricho-vertex.jpg")
    drift = read_exifread(out / "P003/month-6/vertex.jpg")
    p3base = read_exifread(out / "P003/baseline/vertex.jpg")
    assert str(base["Image Make"]) == "Canon" and str(follow["Image Make"]) == "FotoFinder"
    assert str(base["EXIF OffsetTimeOriginal"]) == "+01:00"
    assert str(follow["EXIF OffsetTimeOriginal"]) == "+02:00"
    assert str(base["Image DateTime"]) == str(base["EXIF DateTimeOriginal"])
    assert base["EXIF Flash"].values[0] == 0x09 and follow["EXIF Flash"].values[0] == 0x10
    fmt = "%Y:%m:%d %H:%M:%S"
    dto = datetime.strptime(str(drift["EXIF DateTimeOriginal"]), fmt)
    dt = datetime.strptime(str(drift["Image DateTime"]), fmt)
    assert timedelta(days=3) <= dt - dto < timedelta(days=4)
    assert "Lightroom" in str(drift["Image Software"])
    assert drift["EXIF ISOSpeedRatings"].values[0] == 400
    assert drift["EXIF ExposureTime"].values[0] == Fraction(1, 60)
    assert drift["EXIF WhiteBalance"].values[0] == 0
    assert str(drift["EXIF BodySerialNumber"]) != str(p3base["EXIF BodySerialNumber"])
    # All views of a visit within a few minutes.
    times = [datetime.strptime(str(read_exifread(out / f"P002/baseline/{v}.jpg")
                                   ["EXIF DateTimeOriginal"]), fmt)
             for v in ("vertex", "tricho-vertex", "tricho-midscalp")]
    assert max(times) - min(times) < timedelta(minutes=10)


def test_archive_is_deterministic(archive, tmp_path):
    again = generate_sample_archive(tmp_path, seed=0, image_size=(320, 240))
    for a in archive.photos:
        rel = a.path.relative_to(archive.out_dir)
        assert (tmp_path / rel).read_bytes() == a.path.read_bytes()
    assert (tmp_path / "ground_truth.json").read_text() == archive.ground_truth_path.read_text()
