from __future__ import annotations

import datetime as dt

import pytest

from photostation.errors import InputError
from photostation.protocol import load_protocol, parse_protocol


def test_default_protocol_documents_schedule_and_thresholds():
    p = load_protocol()
    assert p.baseline_label == "baseline"
    month6 = p.scheduled("month-6")
    assert (month6.day, month6.window_days) == (182, 21)
    assert "vertex" in p.views.required
    assert p.views.is_trichoscopy("tricho-vertex") and not p.views.is_trichoscopy("vertex")
    assert p.timestamps.oldest_plausible_date == dt.date(2000, 1, 1)
    assert p.camera.iso_tolerance_stops > 0 and p.camera.iso_fail_stops > p.camera.iso_tolerance_stops


def test_clinic_file_overrides_only_what_it_names(tmp_path):
    f = tmp_path / "clinic.toml"
    f.write_text('[timestamps]\nmax_visit_spread_hours = 0.5\n[views]\nrequired = ["vertex"]\n')
    p = load_protocol(f)
    assert p.timestamps.max_visit_spread_hours == 0.5
    assert p.views.required == ("vertex",)
    # Untouched keys keep the default.
    assert p.timestamps.future_tolerance_minutes == load_protocol().timestamps.future_tolerance_minutes
    assert p.source == str(f)


def test_retired_detector_keys_of_older_protocols_load_and_are_ignored():
    # These were the old hair detector's parameters; the detector's own belong with it.
    old = ("[density]\nterminal_width_um = 70.0\nmin_shaft_darkness = 0.6\nmax_white_hair_pct = 2.0\n"
           "max_estimated_share_pct = 30.0\nvellus_max_width_um = 35.0\n"
           "[density.detector]\nhair_darkness = 0.5\nopening_recall = 0.9\n")
    p = parse_protocol(old, source="old.toml")
    assert p.compare.vellus_max_width_um == 35.0  # a live key in the same table still counts
    assert not hasattr(p.compare, "min_shaft_darkness") and not hasattr(p.compare, "hair_detector")
    with pytest.raises(InputError, match="unknown key 'density.min_shaft_darknes'"):
        parse_protocol("[density]\nmin_shaft_darknes = 0.6\n", source="typo.toml")


@pytest.mark.parametrize("text,fragment", [
    ("[timestamps]\nmax_visit_spred_hours = 1\n", "unknown key 'timestamps.max_visit_spred_hours'"),
    ("[camera]\nidentity_severity = 'maybe'\n", "must be 'warn' or 'fail'"),
    ("[timestamps]\nfuture_tolerance_minutes = -5\n", "must be a number >= 0"),
    ("[timestamps]\noldest_plausible_date = 'last year'\n", "must be a date"),
    ("[schedule]\nvisits = []\n", "at least the baseline"),
    ("[[schedule.visits]]\nlabel = 'month-6'\nday = 182\nwindow_days = 21\n", "exactly one baseline"),
    ("[integrity]\nalgorithm = 'crc1'\n", "not a known hash"),
    ("[camera.required.global]\nshoe_size = 42\n", "unknown setting"),
    ("this is = = not toml", "not valid TOML"),
])
def test_bad_protocols_are_refused_with_the_reason(text, fragment):
    with pytest.raises(InputError, match=".*") as info:
        parse_protocol(text, source="clinic.toml")
    assert fragment in str(info.value)


def test_missing_protocol_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="protocol file not found"):
        load_protocol(tmp_path / "nope.toml")


def test_every_threshold_used_in_code_is_in_the_default_file():
    # Each rules field must come from the TOML (no default silently living in code).
    import tomllib
    from importlib import resources

    raw = tomllib.loads(resources.files("photostation").joinpath("default_protocol.toml").read_text())
    p = load_protocol()
    for name in p.timestamps.__dataclass_fields__:
        assert name in raw["timestamps"], name
    for name in p.camera.__dataclass_fields__:
        key = name.replace("required_global", "required").replace("required_trichoscopy", "required")
        assert key in raw["camera"], name
