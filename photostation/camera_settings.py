"""Camera-setting rules: the fixed settings of a view must match its baseline and the protocol.

Exposure settings are compared in photographic stops (EV): aperture ``2 log2(N1/N0)``,
shutter ``log2(t1/t0)``, ISO ``log2(S1/S0)`` (ISO 2720:1974 / ISO 12232 exposure
relations), so one tolerance reads the same for all three.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from photostation.metadata import PhotoMetadata
from photostation.protocol import CameraRules
from photostation.results import Check

_LABELS = {"make": "camera make", "model": "camera model", "lens": "lens", "serial": "camera body",
           "flash_fired": "flash", "white_balance": "white balance", "iso": "ISO",
           "f_number": "aperture", "exposure_time_s": "shutter speed", "focal_length_mm": "focal length"}


def _stops(kind: str, value: float, base: float) -> float:
    if kind == "f_number":
        return 2.0 * math.log2(value / base)
    return math.log2(value / base)


def _missing(name: str, field: str, value: Any, base: Any, severity: str = "warn") -> Check | None:
    if value is None and base is None:
        return Check(name, "pass", None, None, f"{_LABELS[field]} not recorded in either photo")
    if value is None or base is None:
        which = "this photo" if value is None else "the baseline"
        return Check(name, severity, value, base,
                     f"{_LABELS[field]} not recorded in {which}: cannot confirm it matches")
    return None


def _same(name: str, field: str, value: Any, base: Any, severity: str) -> Check:
    missing = _missing(name, field, value, base)
    if missing:
        return missing
    if str(value).strip().casefold() == str(base).strip().casefold():
        return Check(name, "pass", value, base, f"same {_LABELS[field]} as baseline")
    return Check(name, severity, value, base,
                 f"{_LABELS[field]} changed from baseline ({_show(base)} -> {_show(value)}): use the baseline set-up")


def _within_stops(name: str, field: str, value: float | None, base: float | None,
                  warn_stops: float, fail_stops: float) -> Check:
    missing = _missing(name, field, value, base)
    if missing:
        return missing
    if value <= 0 or base <= 0:
        return Check(name, "warn", value, base, f"{_LABELS[field]} has an impossible value")
    stops = _stops(field, value, base)
    limit = {"warn_stops": warn_stops, "fail_stops": fail_stops}
    shown = f"{abs(stops):.2f} stops {'more' if stops > 0 else 'less'}"
    if abs(stops) > fail_stops:
        status = "fail"
    elif abs(stops) > warn_stops:
        status = "warn"
    else:
        return Check(name, "pass", round(stops, 3), limit, f"{_LABELS[field]} matches baseline")
    return Check(name, status, round(stops, 3), limit,
                 f"{_LABELS[field]} {_show(value, field)} vs baseline {_show(base, field)} ({shown}): "
                 f"set it back to {_show(base, field)}")


def compare_with_baseline(meta: PhotoMetadata, baseline: PhotoMetadata, rules: CameraRules) -> list[Check]:
    """Compare the fixed camera settings of a follow-up photo with its baseline.

    Parameters
    ----------
    meta, baseline : PhotoMetadata
        Follow-up and baseline metadata of the same view.
    rules : CameraRules
        Tolerances and severities from the protocol's ``[camera]`` table.

    Returns
    -------
    list of Check
        One check per setting, named ``camera.<field>``.
    """
    checks = [_same(f"camera.{field}", field, getattr(meta, field), getattr(baseline, field),
                    rules.identity_severity) for field in rules.identity_fields]
    checks.append(_same("camera.serial", "serial", meta.serial, baseline.serial, rules.body_serial_severity))
    checks.append(_same("camera.flash_fired", "flash_fired", meta.flash_fired, baseline.flash_fired,
                        rules.flash_severity))
    checks.append(_same("camera.white_balance", "white_balance", meta.white_balance, baseline.white_balance,
                        rules.white_balance_severity))

    focal = _missing("camera.focal_length_mm", "focal_length_mm", meta.focal_length_mm, baseline.focal_length_mm)
    if focal is None:
        pct = 100.0 * (meta.focal_length_mm - baseline.focal_length_mm) / baseline.focal_length_mm \
            if baseline.focal_length_mm else math.inf
        tol = rules.focal_length_tolerance_pct
        if abs(pct) > tol:
            focal = Check("camera.focal_length_mm", rules.identity_severity, meta.focal_length_mm,
                          baseline.focal_length_mm,
                          f"focal length {meta.focal_length_mm:g} mm vs baseline {baseline.focal_length_mm:g} mm "
                          f"({pct:+.1f} %, limit {tol:g} %): zoom back to {baseline.focal_length_mm:g} mm")
        else:
            focal = Check("camera.focal_length_mm", "pass", meta.focal_length_mm, baseline.focal_length_mm,
                          "focal length matches baseline")
    checks.append(focal)
    checks.append(_within_stops("camera.f_number", "f_number", meta.f_number, baseline.f_number,
                                rules.aperture_tolerance_stops, rules.aperture_fail_stops))
    checks.append(_within_stops("camera.exposure_time_s", "exposure_time_s", meta.exposure_time_s,
                                baseline.exposure_time_s, rules.shutter_tolerance_stops, rules.shutter_fail_stops))
    checks.append(_within_stops("camera.iso", "iso", meta.iso, baseline.iso,
                                rules.iso_tolerance_stops, rules.iso_fail_stops))
    return checks


def check_required(meta: PhotoMetadata, required: Mapping[str, Any], severity: str) -> list[Check]:
    """Check the settings the protocol demands for this kind of view (e.g. flash fired, manual WB)."""
    checks = []
    for field, wanted in required.items():
        name = f"protocol.{field}"
        value = getattr(meta, field)
        if value is None:
            checks.append(Check(name, severity, None, wanted,
                                f"{_LABELS[field]} not recorded: the protocol requires {_show(wanted)}"))
        elif (str(value).casefold() == str(wanted).casefold() if isinstance(wanted, str) else value == wanted):
            checks.append(Check(name, "pass", value, wanted, f"{_LABELS[field]} as the protocol requires"))
        else:
            checks.append(Check(name, severity, value, wanted,
                                f"{_LABELS[field]} is {_show(value)}, the protocol requires {_show(wanted)}"))
    return checks


def _show(value: Any, field: str | None = None) -> str:
    if field == "exposure_time_s" and isinstance(value, float) and 0 < value < 1:
        return f"1/{round(1 / value):g} s"
    if field == "f_number":
        return f"f/{value:g}"
    if isinstance(value, bool):
        return "fired" if value else "not fired"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
