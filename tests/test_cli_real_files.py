"""`photostation check` on every real camera file: the JSON contract, exit codes, no traceback."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from photostation_cli.main import main
from tests.make_exiftool_reference import sample_files

from .conftest import REALDATA

METADATA_KEYS = ["captured_at", "make", "model", "serial", "lens", "focal_length_mm", "exposure_time_s",
                 "f_number", "iso", "flash_fired", "white_balance", "software", "orientation", "width", "height"]
FILES = [p.relative_to(REALDATA).as_posix() for p in sample_files(REALDATA)]


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_contract(report: dict, code: int) -> None:
    assert report["verdict"] in ("pass", "warn", "fail")
    assert code == (1 if report["verdict"] == "fail" else 0)
    assert isinstance(report["checks"], list) and report["checks"]
    for c in report["checks"]:
        assert set(c) >= {"name", "status", "value", "limit", "message"}
        assert c["status"] in ("pass", "warn", "fail") and c["message"]
    assert list(report["metadata"])[:15] == METADATA_KEYS
    # The verdict is the worst check.
    worst = max(report["checks"], key=lambda c: ("pass", "warn", "fail").index(c["status"]))["status"]
    assert report["verdict"] == worst


@pytest.mark.parametrize("relative", FILES)
def test_check_json_on_every_real_file(capsys, relative):
    code, out, err = run(capsys, "check", REALDATA / relative, "--json")
    assert "Traceback" not in err
    if code == 2:
        assert out == "" and len(err.strip().splitlines()) == 1
        return
    assert_contract(json.loads(out), code)


def test_invalid_samples_are_reported_not_crashed(capsys):
    for path in sorted((REALDATA / "jpg" / "invalid").glob("*.jpg")):
        code, out, err = run(capsys, "check", path, "--json")
        report = json.loads(out)
        names = {c["name"]: c for c in report["checks"]}
        # These files carry no capture time: they must never pass.
        assert names["timestamp.present"]["status"] == "fail", path.name
        assert code == 1


def test_edited_file_is_flagged(capsys):
    code, out, _ = run(capsys, "check", REALDATA / "jpg" / "tests" / "30-type_error.jpg", "--json")
    names = {c["name"]: c for c in json.loads(out)["checks"]}
    assert names["metadata.editing_software"]["status"] == "fail"
    assert "Photoshop" in names["metadata.editing_software"]["value"]
    assert code == 1


@pytest.mark.parametrize("content,expected", [
    (b"", "empty file"),
    (b"this is a text file, not a photo\n", "not an image"),
])
def test_bad_files_give_one_line_and_exit_2(tmp_path, capsys, content, expected):
    bad = tmp_path / "shot.jpg"
    bad.write_bytes(content)
    code, out, err = run(capsys, "check", bad, "--json")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and expected in err


def test_truncated_jpeg_fails_with_reason(tmp_path, capsys):
    data = (REALDATA / "jpg" / "hdr" / "canon_hdr_NO.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    code, out, err = run(capsys, "check", cut, "--json")
    report = json.loads(out)
    decodable = next(c for c in report["checks"] if c["name"] == "file.decodable")
    assert decodable["status"] == "fail" and "truncated" in decodable["message"]
    assert code == 1
    # The metadata of a truncated file is still read (it sits at the start of the file).
    assert report["metadata"]["captured_at"].startswith("2015-02-09")


def test_usage_errors_exit_2_with_one_line(capsys, tmp_path):
    for args in (["check"], ["check", tmp_path / "missing.jpg"], ["nonsense"], ["check", "--bogus", "x.jpg"],
                 ["check", REALDATA / "jpg" / "Canon_40D.jpg", "--protocol", tmp_path / "none.toml"]):
        code, out, err = run(capsys, *args)
        assert code == 2, args
        assert len(err.strip().splitlines()) == 1, (args, err)


def test_console_script_runs_without_traceback(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    exe = [sys.executable, "-c", "from photostation_cli.main import entry_point; entry_point()"]
    done = subprocess.run(exe + ["check", str(empty), "--json"], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("photostation: error:")
    done = subprocess.run(exe + ["check", str(REALDATA / "jpg" / "hdr" / "canon_hdr_YES.jpg"), "--baseline",
                                 str(REALDATA / "jpg" / "hdr" / "canon_hdr_NO.jpg"), "--json"],
                          capture_output=True, text=True)
    report = json.loads(done.stdout)
    assert_contract(report, done.returncode)
    names = {c["name"]: c for c in report["checks"]}
    # 1/200 s against the baseline's 1/60 s is 1.74 stops: beyond the protocol's 1-stop fail limit.
    assert names["camera.exposure_time_s"]["status"] == "fail"
    assert names["camera.exposure_time_s"]["value"] == pytest.approx(-1.737, abs=0.01)
    assert names["camera.model"]["status"] == "pass"
