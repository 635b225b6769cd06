"""`photostation measure`: one photo's numbers, the JSON contract, the correctable hairs file,
and bad input (exit codes, one line, never a number that looks valid)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from photostation.synthetic import Pose, make_scalp_patch, render_trichoscopy
from photostation_cli.main import main
from pipelines.hair_summary import summarise_hairs
from pipelines.hairs_file import HairRow, hairs_csv, read_hairs_csv

from .conftest import ROOT

CLOSE_UP_KEYS = {"hair_count", "density_per_cm2", "mean_shaft_width_um", "vellus_pct", "terminal_pct", "units",
                 "cumulative_thickness_mm_per_cm2", "flags", "hairs", "coverage_pct", "measurable", "scale"}
HAIR_KEYS = {"root", "direction_deg", "length_um", "width_um", "unit"}


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def close_up(tmp_path_factory):
    rng = np.random.default_rng(21)
    patch = make_scalp_patch(rng, 12.0, 12.0, density_per_cm2=130, vellus_share=0.0, hair_colour="black",
                             unit_size_probs=(1.0,))
    render = render_trichoscopy(patch, Pose(), image_size=(960, 720), field_width_mm=6.0, clipped=True, rng=3)
    path = tmp_path_factory.mktemp("measure") / "tricho-vertex.png"
    Image.fromarray(render.image).save(path)
    return path, render


def test_close_up_json_contract_and_count(capsys, close_up):
    path, render = close_up
    code, out, err = run(capsys, "measure", path, "--mm-per-px", render.mm_per_px, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert CLOSE_UP_KEYS <= set(data)
    assert data["view"] == "trichoscopy" and data["hair"] == "clipped" and data["measurable"] is True
    assert data["hair_count"] == pytest.approx(render.hair_count, rel=0.15)
    assert data["hair_count"] == len(data["hairs"])
    area_cm2 = 960 * 720 * render.mm_per_px ** 2 / 100
    assert data["density_per_cm2"] == pytest.approx(data["hair_count"] / area_cm2, rel=1e-3)
    assert set(data["units"]) == {"1", "2", "3", "4"}
    assert sum(data["units"].values()) == pytest.approx(100.0, abs=0.01)
    # Rendered terminal shafts are 60-110 um wide.
    assert 55 <= data["mean_shaft_width_um"] <= 115
    assert data["vellus_pct"] + data["terminal_pct"] == pytest.approx(100.0)
    assert data["cumulative_thickness_mm_per_cm2"] == pytest.approx(
        data["density_per_cm2"] * data["mean_shaft_width_um"] / 1000, rel=0.01)
    for hair in data["hairs"]:
        assert HAIR_KEYS <= set(hair)
        x, y = hair["root"]
        assert 0 <= x < 960 and 0 <= y < 720
        assert 0 <= hair["direction_deg"] < 360 and hair["length_um"] > 0 and hair["width_um"] > 0
    # Each hair's root lies on a rendered shaft: near a true emergence point (shafts <= 1 mm).
    roots = np.array([h["root"] for h in data["hairs"]])
    nearest = np.min(np.linalg.norm(roots[:, None] - render.emergence_px[None], axis=2), axis=1)
    assert np.median(nearest) * render.mm_per_px < 1.0


def test_out_writes_an_overlay_and_a_hairs_file_that_measures_the_same(capsys, close_up, tmp_path):
    path, render = close_up
    code, out, _ = run(capsys, "measure", path, "--mm-per-px", render.mm_per_px, "--out", tmp_path, "--json")
    assert code == 0
    detected = json.loads(out)
    overlay = tmp_path / "tricho-vertex_measured.png"
    csv_path = tmp_path / "tricho-vertex_hairs.csv"
    assert sorted(detected["files"]) == sorted([str(overlay), str(csv_path)])
    assert Image.open(overlay).size == (960, 720)
    code, out, _ = run(capsys, "measure", path, "--mm-per-px", render.mm_per_px, "--hairs", csv_path, "--json")
    assert code == 0
    again = json.loads(out)
    assert again["hairs_source"] == "file"
    for key in ("hair_count", "density_per_cm2", "vellus_pct", "units"):
        assert again[key] == pytest.approx(detected[key], abs=0.01), key
    assert again["mean_shaft_width_um"] == pytest.approx(detected["mean_shaft_width_um"], abs=0.1)  # 0.1 um in the file

    # A person removes one false hair and adds a missed one without a width.
    lines = csv_path.read_text().splitlines()
    corrected = tmp_path / "corrected.csv"
    corrected.write_text("\n".join(lines[:1] + lines[2:] + ["100.5,200.5,,,,,", "300,400,,,,,"]) + "\n")
    code, out, _ = run(capsys, "measure", path, "--mm-per-px", render.mm_per_px, "--hairs", corrected, "--json")
    assert code == 0
    fixed = json.loads(out)
    assert fixed["hair_count"] == detected["hair_count"] + 1
    assert [h["root"] for h in fixed["hairs"][-2:]] == [[100.5, 200.5], [300.0, 400.0]]
    assert fixed["hairs"][-1]["width_um"] is None and fixed["hairs"][-1]["unit"] != fixed["hairs"][-2]["unit"]


@pytest.mark.parametrize("content, message", [
    (b"root_x_px,root_y_px\n10,abc\n", "line 2: root_y_px 'abc' is not a number"),
    (b"x,y\n1,2\n", "the header lacks root_x_px, root_y_px"),
    (b"root_x_px,root_y_px\n5000,10\n", "lies outside the photo"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"", "empty hairs file"),
    (b"root_x_px,root_y_px,width_um\n10,10,-3\n", "width_um must be positive"),
])
def test_a_corrupt_hairs_file_is_one_line_and_exit_2(capsys, close_up, tmp_path, content, message):
    path, render = close_up
    bad = tmp_path / "hairs.csv"
    bad.write_bytes(content)
    code, out, err = run(capsys, "measure", path, "--mm-per-px", render.mm_per_px, "--hairs", bad, "--json")
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("scale", ["0.0005", "0.05", "0", "nan"])
def test_a_scale_outside_close_up_range_is_exit_2(capsys, close_up, scale):
    path, _ = close_up
    code, out, err = run(capsys, "measure", path, "--mm-per-px", scale, "--json")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1


def test_a_close_up_without_scale_is_exit_2(capsys, close_up):
    path, _ = close_up
    code, _, err = run(capsys, "measure", path)
    assert code == 2 and "no scale" in err


def _frame(tmp_path: Path, name: str, image: np.ndarray) -> Path:
    path = tmp_path / name
    Image.fromarray(image).save(path)
    return path


@pytest.mark.parametrize("kind", ["blank", "bare", "text", "all_hair"])
def test_frames_with_nothing_to_count_are_not_measurable(capsys, tmp_path, kind):
    rng = np.random.default_rng(2)
    if kind == "blank":
        image = np.full((600, 800, 3), 128, np.uint8)
    elif kind == "bare":  # skin with texture and noise, no hair
        patch = make_scalp_patch(rng, 12.0, 12.0, density_per_cm2=0.0001, vellus_share=0.0)
        image = render_trichoscopy(patch, Pose(), image_size=(800, 600), field_width_mm=5.0, clipped=True,
                                   rng=4).image
    elif kind == "text":  # a device's text screen
        image = np.zeros((600, 800, 3), np.uint8)
        for row in range(8):
            cv2.putText(image, "PATIENT SCAN 70x 2022/01/05", (20, 60 + 70 * row), cv2.FONT_HERSHEY_SIMPLEX, 1.2,
                        (255, 255, 255), 2)
    else:  # dark hair filling the frame: no skin to compare with
        image = np.clip(rng.normal(40, 6, (600, 800, 3)), 0, 255).astype(np.uint8)
        image = cv2.GaussianBlur(image, (0, 0), 1.0)
    path = _frame(tmp_path, "tricho-site.png", image)
    code, out, err = run(capsys, "measure", path, "--mm-per-px", "0.005", "--json")
    data = json.loads(out)
    assert code == 1, (kind, data)
    assert data["measurable"] is False and data["reason"]
    assert data["hair_count"] is None and data["density_per_cm2"] is None and data["hairs"] == []


def test_global_view_reports_coverage(capsys):
    photo = ROOT / "sample_images" / "P001" / "baseline" / "vertex.jpg"
    code, out, err = run(capsys, "measure", photo, "--json")
    assert code == 0, err
    data = json.loads(out)
    truth = json.loads((ROOT / "sample_images" / "ground_truth.json").read_text())["photos"]["P001/baseline/vertex"]
    assert data["view"] == "global" and data["hair_count"] is None and data["hairs"] == []
    assert data["coverage_pct"] == pytest.approx(truth["coverage_pct"], abs=10)


@pytest.mark.parametrize("kind", ["wall", "shirt", "gradient"])
def test_a_global_view_without_hair_is_not_measurable(capsys, tmp_path, kind):
    # The skin-colour rule calls everything that is not skin hair: a wall or a shirt would read
    # as 100 % coverage. No strands, no coverage.
    rng = np.random.default_rng(5)
    if kind == "wall":
        image = np.clip(rng.normal(180, 3, (600, 800, 3)), 0, 255).astype(np.uint8)
    elif kind == "shirt":
        image = np.clip(np.array([60, 90, 160]) + rng.normal(0, 20, (600, 800, 3)), 0, 255).astype(np.uint8)
        image = cv2.GaussianBlur(image, (0, 0), 6.0)  # cloth: soft folds, no fine lines
    else:
        image = np.tile(np.linspace(60, 220, 800)[None, :, None], (600, 1, 3)).astype(np.uint8)
    path = _frame(tmp_path, "vertex.png", image)
    code, out, err = run(capsys, "measure", path, "--json")
    data = json.loads(out)
    assert code == 1, (kind, data)
    assert data["measurable"] is False and "no hair strands" in data["reason"]
    assert data["coverage_pct"] is None


def test_text_output_names_the_figures(capsys, close_up):
    path, render = close_up
    code, out, _ = run(capsys, "measure", path, "--mm-per-px", render.mm_per_px)
    assert code == 0
    assert "hairs/cm2" in out and "vellus" in out and "1-hair" in out


def test_summary_of_known_hairs():
    widths = np.array([80.0, 90.0, 20.0, 25.0, np.nan, 100.0])
    units = np.array([0, 0, 1, 2, 2, 3])
    s = summarise_hairs(widths, units, area_cm2=0.5, vellus_max_width_um=30.0)
    assert s.hair_count == 6 and s.density_per_cm2 == pytest.approx(12.0)
    assert s.mean_shaft_width_um == pytest.approx(63.0)
    assert s.vellus_pct == pytest.approx(40.0) and s.terminal_pct == pytest.approx(60.0)
    assert s.thin_pct == pytest.approx(40.0)
    assert s.units_pct == {"1": 50.0, "2": 50.0, "3": 0.0, "4": 0.0}
    assert s.cumulative_thickness_mm_per_cm2 == pytest.approx(12.0 * 63.0 / 1000)
    assert s.shaft_width_cv_pct == pytest.approx(100 * np.std([80, 90, 20, 25, 100]) / 63.0)
    empty = summarise_hairs(np.zeros(0), np.zeros(0, int), None, 30.0)
    assert empty.hair_count == 0 and empty.density_per_cm2 is None and empty.units_pct["1"] is None


def test_hairs_file_round_trip(tmp_path):
    rows = [HairRow((10.25, 20.0), 45.0, 500.0, 80.0, 0, False), HairRow((30.0, 40.0), None, None, None, 0, True)]
    path = tmp_path / "h.csv"
    path.write_text("# corrected by hand\n" + hairs_csv(rows))
    back = read_hairs_csv(path, (100, 100))
    assert back[0] == HairRow((10.2, 20.0), 45.0, 500.0, 80.0, 0, False)
    assert back[1] == rows[1]


def test_long_hair_close_up_gives_no_density_but_a_flag(capsys):
    photo = ROOT / "sample_images" / "P001" / "baseline" / "tricho-midscalp.jpg"
    truth = json.loads((ROOT / "sample_images" / "ground_truth.json").read_text())["photos"][
        "P001/baseline/tricho-midscalp"]
    assert truth["clipped"] is False
    code, out, err = run(capsys, "measure", photo, "--mm-per-px", truth["mm_per_px"], "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["hair"] == "unclipped" and data["measurable"] is True
    assert data["hair_count"] is None and data["density_per_cm2"] is None and data["hairs"] == []
    assert any(flag.startswith("density: long hair") for flag in data["flags"])
    assert 30.0 < data["coverage_pct"] < 90.0
    # Told it is clipped, it counts, and still says the hair looks long.
    code, out, _ = run(capsys, "measure", photo, "--mm-per-px", truth["mm_per_px"], "--hair", "clipped", "--json")
    forced = json.loads(out)
    assert code == 0 and forced["hair"] == "clipped" and forced["hair_count"] > 0
    assert any(flag.startswith("density: long hair") for flag in forced["flags"])


def test_hair_unclipped_given_on_a_clipped_field_says_so(capsys, close_up):
    path, render = close_up
    code, out, _ = run(capsys, "measure", path, "--mm-per-px", render.mm_per_px, "--hair", "unclipped", "--json")
    data = json.loads(out)
    assert code == 0 and data["hair"] == "unclipped" and data["hair_count"] is None
    assert any(flag.startswith("density: long hair (--hair unclipped was given") for flag in data["flags"])


@pytest.mark.parametrize("colour, flagged", [("blond", True), ("brown", False)])
def test_light_hair_is_flagged_by_the_detector_own_limit(capsys, tmp_path, colour, flagged):
    patch = make_scalp_patch(np.random.default_rng(31), 12.0, 12.0, density_per_cm2=150, vellus_share=0.0,
                             hair_colour=colour, unit_size_probs=(1.0,))
    render = render_trichoscopy(patch, Pose(), image_size=(960, 720), field_width_mm=6.0, clipped=True, rng=5)
    path = _frame(tmp_path, "tricho-site.png", render.image)
    code, out, _ = run(capsys, "measure", path, "--mm-per-px", render.mm_per_px, "--json")
    data = json.loads(out)
    light = any(flag.startswith("density: light hair") for flag in data["flags"])
    if flagged:  # too light to count at all (exit 1), or counted with the flag
        assert (code == 1 and data["hair_count"] is None) or (code == 0 and light)
    else:
        assert code == 0 and not light and data["hair_count"] > 0
