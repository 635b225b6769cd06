"""Timestamp and camera-setting rules on real camera files (generated files: test_timestamps_generated)."""
from __future__ import annotations

import datetime as dt

import pytest

from photostation import camera_settings, timestamps
from photostation.metadata import read_metadata
from photostation.shot import check_photo

from .conftest import NOW, REALDATA


def meta(relative):
    return read_metadata(REALDATA / relative)


@pytest.mark.parametrize("relative", ["jpg/invalid/image01551.jpg", "jpg/xmp/no_exif.jpg",
                                      "jpg/PaintTool_sample.jpg", "jpg/Canon_40D_photoshop_import.jpg",
                                      "heic/samplefilehub.heif", "tiff/BSG1.tiff"])
def test_missing_capture_time_fails(relative):
    check = timestamps.check_present(meta(relative))
    assert check.status == "fail" and "DateTimeOriginal missing" in check.message


def test_capture_time_present_passes():
    check = timestamps.check_present(meta("heic/IMG_5195.HEIC"))
    assert check.status == "pass" and check.value == "2021-04-11T15:47:53.054-05:00"


def test_future_capture_time_fails(protocol):
    wwl = meta("jpg/WWL_(Polaroid)_ION230.jpg")  # its clock says 2026-11-24 14:41
    check = timestamps.check_not_future(wwl, NOW, protocol.timestamps)
    assert check.status == "fail" and "in the future" in check.message
    # The same file checked three days later is no longer in the future.
    later = timestamps.check_not_future(wwl, NOW + dt.timedelta(days=3), protocol.timestamps)
    assert later.status == "pass"
    # A naive time is only "future" beyond the widest time zone: 10 h ahead of UTC is not.
    naive_ahead = timestamps.check_not_future(wwl, dt.datetime(2026, 11, 24, 4, 41, tzinfo=dt.timezone.utc),
                                              protocol.timestamps)
    assert naive_ahead.status == "pass"


def test_reset_clock_before_oldest_plausible_date_fails(protocol):
    sanyo = meta("jpg/exif-org/sanyo-vpcg250.jpg")  # 1998-01-01 00:00:00: a reset clock
    check = timestamps.check_plausible(sanyo, protocol.timestamps)
    assert check.status == "fail" and "reset" in check.message
    assert timestamps.check_plausible(meta("jpg/Canon_40D.jpg"), protocol.timestamps).status == "pass"


def test_file_modified_after_capture_warns(protocol):
    check = timestamps.check_modified_after_capture(meta("jpg/hdr/canon_hdr_NO.jpg"), protocol.timestamps)
    assert check.status == "warn" and check.value == pytest.approx(16 * 86400 + 5 * 3600 + 32 * 60 + 19, abs=1)
    same = timestamps.check_modified_after_capture(meta("jpg/hdr/iphone_hdr_NO.jpg"), protocol.timestamps)
    assert same.status == "pass"


@pytest.mark.parametrize("relative,software", [("jpg/Canon_40D.jpg", "GIMP 2.4.5"),
                                               ("jpg/tests/28-hex_value.jpg", "Microsoft Windows Photo Gallery"),
                                               ("jpg/tests/30-type_error.jpg", "Adobe Photoshop Elements 7.0")])
def test_editing_software_fails(protocol, relative, software):
    check = timestamps.check_editing_software(meta(relative), protocol.timestamps)
    assert check.status == "fail" and check.value.startswith(software)


def test_camera_firmware_is_not_an_editor(protocol):
    for relative in ("jpg/hdr/iphone_hdr_NO.jpg", "jpg/exif-org/nikon-e950.jpg", "heic/IMG_5195.HEIC"):
        assert timestamps.check_editing_software(meta(relative), protocol.timestamps).status == "pass"


def test_follow_up_before_baseline_fails():
    first, second = meta("jpg/hdr/canon_hdr_NO.jpg"), meta("jpg/hdr/canon_hdr_YES.jpg")  # 26 s apart
    assert timestamps.check_order(second, first).status == "pass"
    reversed_order = timestamps.check_order(first, second)
    assert reversed_order.status == "fail" and "before its baseline" in reversed_order.message


def test_different_camera_fails_and_changed_exposure_is_graded(protocol):
    canon, nikon = meta("jpg/hdr/canon_hdr_NO.jpg"), meta("jpg/gps/DSCN0010.jpg")
    checks = {c.name: c for c in camera_settings.compare_with_baseline(nikon, canon, protocol.camera)}
    assert checks["camera.make"].status == "fail" and checks["camera.model"].status == "fail"
    hdr = {c.name: c for c in camera_settings.compare_with_baseline(
        meta("jpg/hdr/canon_hdr_YES.jpg"), canon, protocol.camera)}
    assert hdr["camera.model"].status == "pass"
    assert hdr["camera.iso"].status == "pass"  # 800 -> 1000 is 0.32 stops, inside 0.34
    assert hdr["camera.exposure_time_s"].status == "fail"  # 1/60 -> 1/200 s is 1.74 stops
    assert "1/60 s" in hdr["camera.exposure_time_s"].message


def test_check_photo_checks_the_baseline_itself(protocol):
    # An edited baseline must not pass silently: its own rules are reported as baseline.*.
    report = check_photo(REALDATA / "jpg/hdr/canon_hdr_YES.jpg", protocol,
                         baseline=REALDATA / "jpg/Canon_40D.jpg", now=NOW)
    names = {c.name: c for c in report.checks}
    assert names["baseline.metadata.editing_software"].status == "fail"
    assert report.verdict == "fail"
