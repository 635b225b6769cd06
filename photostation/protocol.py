"""The clinic's photography protocol: required views, visit schedule, fixed camera
settings and every QA threshold, read from a TOML file.

The shipped default (``default_protocol.toml``) documents every key. A clinic file
only needs the keys it changes: it is merged over the default, and unknown keys are
rejected so that a typo never silently falls back to a default threshold.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import tomllib
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from photostation.errors import InputError

SEVERITIES = ("warn", "fail")
# Tables whose keys a clinic may add to (validated after merging).
_OPEN_TABLES = ("camera.required.global.", "camera.required.trichoscopy.")
_RETIRED_KEYS = ("density.min_shaft_darkness", "density.max_white_hair_pct", "density.max_estimated_share_pct",
                 "density.terminal_width_um", "density.detector")
"""Keys no rule reads any more, accepted and ignored so that older protocol files still load:
the hair detector's parameters and its limits of light hair belong to the detector
(``pipelines.trichoscopy``), not to the clinic's protocol."""


@dataclass(frozen=True)
class ScheduledVisit:
    """One visit of the schedule: ``day`` days after baseline, +- ``window_days``."""

    label: str
    day: int
    window_days: int


@dataclass(frozen=True)
class ViewsRules:
    required: tuple[str, ...]
    global_views: tuple[str, ...]
    trichoscopy_prefix: str
    extensions: tuple[str, ...]

    def is_trichoscopy(self, view: str) -> bool:
        return view.startswith(self.trichoscopy_prefix)

    def is_known(self, view: str) -> bool:
        return view in self.global_views or (
            self.is_trichoscopy(view) and len(view) > len(self.trichoscopy_prefix)
        )


@dataclass(frozen=True)
class TimestampRules:
    future_tolerance_minutes: float
    oldest_plausible_date: dt.date
    clock_reset_window_minutes: float
    modified_after_capture_tolerance_s: float
    max_visit_spread_hours: float
    visit_date_tolerance_days: int
    modified_after_capture_severity: str
    editing_software_severity: str
    schedule_window_severity: str
    visit_spread_severity: str
    editing_software: tuple[str, ...]


@dataclass(frozen=True)
class CameraRules:
    identity_fields: tuple[str, ...]
    identity_severity: str
    body_serial_severity: str
    flash_severity: str
    white_balance_severity: str
    focal_length_tolerance_pct: float
    aperture_tolerance_stops: float
    shutter_tolerance_stops: float
    iso_tolerance_stops: float
    aperture_fail_stops: float
    shutter_fail_stops: float
    iso_fail_stops: float
    required_severity: str
    required_global: dict[str, Any]
    required_trichoscopy: dict[str, Any]


@dataclass(frozen=True)
class RegionRules:
    backdrop_texture_max: float
    min_share_pct: float


@dataclass(frozen=True)
class ExposureRules:
    level_warn_below: float
    level_fail_below: float
    level_warn_above: float
    level_fail_above: float
    highlights_warn_pct: float
    highlights_fail_pct: float
    shadows_warn_pct: float
    shadows_fail_pct: float
    difference_warn_ev: float
    difference_fail_ev: float


@dataclass(frozen=True)
class WhiteBalanceRules:
    cast_warn_mired: float
    cast_fail_mired: float
    shift_warn_mired: float
    shift_fail_mired: float
    tint_shift_warn_duv: float
    tint_shift_fail_duv: float


@dataclass(frozen=True)
class FocusRules:
    blur_warn: float
    blur_fail: float
    ratio_warn_below: float
    ratio_fail_below: float


@dataclass(frozen=True)
class LightingRules:
    uniformity_warn_ratio: float
    uniformity_fail_ratio: float
    change_warn_ratio: float
    change_fail_ratio: float


@dataclass(frozen=True)
class GlareRules:
    near_white: float
    max_chroma: float
    share_warn_pct: float
    share_fail_pct: float


@dataclass(frozen=True)
class PoseRules:
    roll_warn_deg: float
    roll_fail_deg: float
    tilt_warn_deg: float
    tilt_fail_deg: float
    scale_warn_pct: float
    scale_fail_pct: float
    shift_warn_pct: float
    shift_fail_pct: float


@dataclass(frozen=True)
class RegistrationRules:
    work_side_px: int
    max_features: int
    ratio: float
    ransac_px: float
    min_inliers: int
    min_inlier_share: float
    min_overlap_pct: float
    max_scale_change: float


@dataclass(frozen=True)
class CalibrationRules:
    """Thresholds of ``photostation calibrate`` (``[calibration]``)."""

    ccm_method: str
    neutral_patch_weight: float
    colorchecker_reference: str
    patch_shrink: float
    patch_max_clipped_share: float
    patch_max_variation: float
    patch_min_pixels: int
    min_patches: int
    delta_e_after_warn: float
    delta_e_after_fail: float
    neutral_spread_warn_pct: float
    max_card_tilt_deg: float
    colorchecker_patch_pitch_mm: float
    flat_field_max_ratio: float
    profile_max_age_days: int
    colorchecker_in_close_ups: bool


@dataclass(frozen=True)
class CompareRules:
    """Thresholds of ``photostation compare`` (``[compare]``, ``[density]``, ``[coverage]``)."""

    measure_side_px: int
    refine_side_px: int
    refine_max_features: int
    max_residual_px: float
    min_overlap_pct: float
    blocking_checks: tuple[str, ...]
    match_gate_widths: float
    bootstrap_tiles: int
    bootstrap_resamples: int
    density_change_threshold_per_cm2: float
    coverage_change_threshold_pts: float
    vellus_max_width_um: float
    skin_min_a: float
    skin_min_hue_ratio: float
    skin_max_hue_ratio: float
    skin_min_lightness: float
    skin_boundary_position: float
    skin_seed_erosion_px: int
    skin_min_seed_share: float
    skin_min_separation: float


@dataclass(frozen=True)
class QaRules:
    """Thresholds of the image checks (``[qa]``)."""

    work_side_px: int
    measure_side_px: int
    card_search_side_px: int
    region: RegionRules
    exposure: ExposureRules
    white_balance: WhiteBalanceRules
    focus: FocusRules
    lighting: LightingRules
    glare: GlareRules
    pose: PoseRules
    registration: RegistrationRules


def _numbers(cls: type, table: dict[str, Any], where: str) -> Any:
    """Build a rules dataclass (numbers, or nested rules dataclasses) from a TOML table."""
    values: dict[str, Any] = {}
    for name, kind in typing.get_type_hints(cls).items():
        if kind in (int, float):
            value = _number(table[name], f"{where}.{name}")
            values[name] = int(value) if kind is int else value
        elif kind is bool:
            if not isinstance(table[name], bool):
                raise InputError(f"protocol: '{where}.{name}' must be true or false")
            values[name] = table[name]
        elif kind is str:
            if not isinstance(table[name], str):
                raise InputError(f"protocol: '{where}.{name}' must be a string")
            values[name] = table[name]
        else:
            values[name] = _numbers(kind, table[name], f"{where}.{name}")
    return cls(**values)


@dataclass(frozen=True)
class ScaleRules:
    """``[scale]``: the scales (mm per pixel of the file) a photo of each kind can have."""

    trichoscopy_min_mm_per_px: float
    trichoscopy_max_mm_per_px: float
    global_min_mm_per_px: float
    global_max_mm_per_px: float

    def check(self, kind: str, mm_per_px: float) -> float:
        """``mm_per_px`` when plausible for a ``kind`` view, else InputError (a typo such as 5
        for 0.005 must not become a measurement)."""
        low, high = ((self.trichoscopy_min_mm_per_px, self.trichoscopy_max_mm_per_px) if kind == "trichoscopy"
                     else (self.global_min_mm_per_px, self.global_max_mm_per_px))
        if not (math.isfinite(mm_per_px) and low <= mm_per_px <= high):
            raise InputError(f"--mm-per-px {mm_per_px:g} is not a plausible scale of a {kind} photo "
                             f"({low:g} to {high:g} mm per pixel, protocol [scale])")
        return mm_per_px


@dataclass(frozen=True)
class DriftRules:
    """``[audit.drift]``: statistical process control of stations and operators."""

    reference_photos: int
    min_photos: int
    shewhart_sigma: float
    ewma_lambda: float
    ewma_sigma: float
    shewhart_min_run: int


@dataclass(frozen=True)
class AuditRules:
    """``[audit]``: the archive audit."""

    trichoscopy_mm_per_px: float
    global_mm_per_px: float
    drift: DriftRules

    def fallback_mm_per_px(self, kind: str) -> float | None:
        """The protocol's scale of a view kind, None when unknown (0)."""
        value = self.trichoscopy_mm_per_px if kind == "trichoscopy" else self.global_mm_per_px
        return value or None


@dataclass(frozen=True)
class Protocol:
    """A parsed protocol. Build it with :func:`load_protocol`."""

    name: str
    version: int
    source: str
    views: ViewsRules
    schedule: tuple[ScheduledVisit, ...]
    timestamps: TimestampRules
    camera: CameraRules
    qa: QaRules
    calibration: CalibrationRules
    compare: CompareRules
    hash_algorithm: str
    raw: dict[str, Any]
    audit: AuditRules | None = None
    """``[audit]`` (always set by :func:`parse_protocol`)."""
    scale: ScaleRules | None = None
    """``[scale]`` (always set by :func:`parse_protocol`)."""

    @property
    def baseline_label(self) -> str:
        """The label of the schedule's day-0 visit."""
        return min(self.schedule, key=lambda v: v.day).label

    def scheduled(self, label: str) -> ScheduledVisit | None:
        for visit in self.schedule:
            if visit.label == label:
                return visit
        return None


def _default_text() -> str:
    return resources.files("photostation").joinpath("default_protocol.toml").read_text("utf-8")


def _merge(base: dict[str, Any], override: dict[str, Any], path: str = "") -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        where = f"{path}{key}"
        if where in _RETIRED_KEYS:
            continue
        if key not in base:
            if path in _OPEN_TABLES:
                merged[key] = value
                continue
            raise InputError(f"protocol: unknown key '{where}'")
        if isinstance(base[key], dict) and isinstance(value, dict):
            merged[key] = _merge(base[key], value, where + ".")
        elif isinstance(base[key], dict) != isinstance(value, dict):
            raise InputError(f"protocol: '{where}' must be a {'table' if isinstance(base[key], dict) else 'value'}")
        else:
            merged[key] = value
    return merged


def _severity(value: Any, where: str) -> str:
    if value not in SEVERITIES:
        raise InputError(f"protocol: '{where}' must be 'warn' or 'fail', not {value!r}")
    return value


def _number(value: Any, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise InputError(f"protocol: '{where}' must be a number >= {minimum:g}, not {value!r}")
    return float(value)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"protocol: '{where}' must be a list of strings")
    return tuple(value)


def parse_protocol(text: str, source: str = "<text>") -> Protocol:
    """Parse protocol TOML text merged over the shipped default.

    Parameters
    ----------
    text : str
        TOML text; may contain only the keys that differ from the default.
    source : str
        Where the text came from (shown in reports).

    Returns
    -------
    Protocol

    Raises
    ------
    InputError
        On TOML syntax errors, unknown keys or out-of-range values.
    """
    default = tomllib.loads(_default_text())
    try:
        override = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"protocol {source}: not valid TOML ({exc})") from None
    raw = _merge(default, override)

    v = raw["views"]
    views = ViewsRules(
        required=_strings(v["required"], "views.required"),
        global_views=_strings(v["global"], "views.global"),
        trichoscopy_prefix=str(v["trichoscopy_prefix"]),
        extensions=tuple(e.lower().lstrip(".") for e in _strings(v["extensions"], "views.extensions")),
    )

    visits = raw["schedule"]["visits"]
    if not isinstance(visits, list) or not visits:
        raise InputError("protocol: 'schedule.visits' must list at least the baseline visit")
    schedule = []
    for i, item in enumerate(visits):
        if not isinstance(item, dict) or set(item) != {"label", "day", "window_days"}:
            raise InputError(f"protocol: schedule.visits[{i}] needs exactly label, day, window_days")
        schedule.append(ScheduledVisit(str(item["label"]), int(_number(item["day"], f"schedule.visits[{i}].day")),
                                       int(_number(item["window_days"], f"schedule.visits[{i}].window_days"))))
    if len({s.label for s in schedule}) != len(schedule):
        raise InputError("protocol: schedule.visits labels must be unique")
    if sum(1 for s in schedule if s.day == 0) != 1:
        raise InputError("protocol: schedule.visits needs exactly one baseline visit with day = 0")

    t = raw["timestamps"]
    try:
        oldest = dt.date.fromisoformat(str(t["oldest_plausible_date"]))
    except ValueError:
        raise InputError("protocol: 'timestamps.oldest_plausible_date' must be a date YYYY-MM-DD") from None
    timestamps = TimestampRules(
        future_tolerance_minutes=_number(t["future_tolerance_minutes"], "timestamps.future_tolerance_minutes"),
        oldest_plausible_date=oldest,
        clock_reset_window_minutes=_number(t["clock_reset_window_minutes"], "timestamps.clock_reset_window_minutes"),
        modified_after_capture_tolerance_s=_number(
            t["modified_after_capture_tolerance_s"], "timestamps.modified_after_capture_tolerance_s"),
        max_visit_spread_hours=_number(t["max_visit_spread_hours"], "timestamps.max_visit_spread_hours"),
        visit_date_tolerance_days=int(_number(t["visit_date_tolerance_days"], "timestamps.visit_date_tolerance_days")),
        modified_after_capture_severity=_severity(t["modified_after_capture_severity"],
                                                  "timestamps.modified_after_capture_severity"),
        editing_software_severity=_severity(t["editing_software_severity"], "timestamps.editing_software_severity"),
        schedule_window_severity=_severity(t["schedule_window_severity"], "timestamps.schedule_window_severity"),
        visit_spread_severity=_severity(t["visit_spread_severity"], "timestamps.visit_spread_severity"),
        editing_software=tuple(s.lower() for s in _strings(t["editing_software"], "timestamps.editing_software")),
    )

    c = raw["camera"]
    camera = CameraRules(
        identity_fields=_strings(c["identity_fields"], "camera.identity_fields"),
        identity_severity=_severity(c["identity_severity"], "camera.identity_severity"),
        body_serial_severity=_severity(c["body_serial_severity"], "camera.body_serial_severity"),
        flash_severity=_severity(c["flash_severity"], "camera.flash_severity"),
        white_balance_severity=_severity(c["white_balance_severity"], "camera.white_balance_severity"),
        focal_length_tolerance_pct=_number(c["focal_length_tolerance_pct"], "camera.focal_length_tolerance_pct"),
        aperture_tolerance_stops=_number(c["aperture_tolerance_stops"], "camera.aperture_tolerance_stops"),
        shutter_tolerance_stops=_number(c["shutter_tolerance_stops"], "camera.shutter_tolerance_stops"),
        iso_tolerance_stops=_number(c["iso_tolerance_stops"], "camera.iso_tolerance_stops"),
        aperture_fail_stops=_number(c["aperture_fail_stops"], "camera.aperture_fail_stops"),
        shutter_fail_stops=_number(c["shutter_fail_stops"], "camera.shutter_fail_stops"),
        iso_fail_stops=_number(c["iso_fail_stops"], "camera.iso_fail_stops"),
        required_severity=_severity(c["required_severity"], "camera.required_severity"),
        required_global=dict(c["required"]["global"]),
        required_trichoscopy=dict(c["required"]["trichoscopy"]),
    )
    for kind, req in (("global", camera.required_global), ("trichoscopy", camera.required_trichoscopy)):
        unknown = set(req) - {"flash_fired", "white_balance", "make", "model", "lens", "iso",
                              "f_number", "exposure_time_s", "focal_length_mm"}
        if unknown:
            raise InputError(f"protocol: camera.required.{kind} has unknown setting(s) {', '.join(sorted(unknown))}")

    algorithm = str(raw["integrity"]["algorithm"])
    if algorithm not in hashlib.algorithms_guaranteed:
        raise InputError(f"protocol: integrity.algorithm '{algorithm}' is not a known hash")

    p = raw["protocol"]
    return Protocol(name=str(p["name"]), version=int(p["version"]), source=source, views=views,
                    schedule=tuple(sorted(schedule, key=lambda s: s.day)), timestamps=timestamps,
                    camera=camera, qa=_numbers(QaRules, raw["qa"], "qa"),
                    calibration=_calibration_rules(raw["calibration"]),
                    compare=_compare_rules(raw), hash_algorithm=algorithm, raw=raw, audit=_audit_rules(raw["audit"]),
                    scale=_scale_rules(raw["scale"]))


def _scale_rules(table: dict[str, Any]) -> ScaleRules:
    rules = _numbers(ScaleRules, table, "scale")
    for kind in ("trichoscopy", "global"):
        if not 0 < getattr(rules, f"{kind}_min_mm_per_px") < getattr(rules, f"{kind}_max_mm_per_px"):
            raise InputError(f"protocol: 'scale.{kind}_min_mm_per_px' must be above 0 and below "
                             f"'scale.{kind}_max_mm_per_px'")
    return rules


def _audit_rules(table: dict[str, Any]) -> AuditRules:
    d = table["drift"]
    drift = DriftRules(
        reference_photos=int(_number(d["reference_photos"], "audit.drift.reference_photos", 2)),
        min_photos=int(_number(d["min_photos"], "audit.drift.min_photos", 2)),
        shewhart_sigma=_number(d["shewhart_sigma"], "audit.drift.shewhart_sigma", 0.5),
        ewma_lambda=_number(d["ewma_lambda"], "audit.drift.ewma_lambda", 0.01),
        ewma_sigma=_number(d["ewma_sigma"], "audit.drift.ewma_sigma", 0.5),
        shewhart_min_run=int(_number(d["shewhart_min_run"], "audit.drift.shewhart_min_run", 1)))
    if drift.ewma_lambda > 1.0:
        raise InputError("protocol: 'audit.drift.ewma_lambda' must be between 0.01 and 1")
    if drift.min_photos > drift.reference_photos:
        raise InputError("protocol: 'audit.drift.min_photos' must not exceed 'audit.drift.reference_photos'")
    for key in ("trichoscopy_mm_per_px", "global_mm_per_px"):
        if not 0 <= _number(table[key], f"audit.{key}") < 10:
            raise InputError(f"protocol: 'audit.{key}' must be 0 (unknown) or a scale under 10 mm per pixel")
    return AuditRules(float(table["trichoscopy_mm_per_px"]), float(table["global_mm_per_px"]), drift)


def _calibration_rules(table: dict[str, Any]) -> CalibrationRules:
    rules = _numbers(CalibrationRules, table, "calibration")
    from calibration.ccm import METHODS

    if rules.ccm_method not in METHODS:
        raise InputError(f"protocol: 'calibration.ccm_method' must be one of {', '.join(METHODS)}")
    from calibration.reference import colorchecker24

    try:
        colorchecker24(rules.colorchecker_reference)
    except ValueError:
        raise InputError(f"protocol: 'calibration.colorchecker_reference' {rules.colorchecker_reference!r} "
                         "is not a colour-science ColorChecker data set") from None
    if not 0.1 <= rules.patch_shrink <= 0.95:
        raise InputError("protocol: 'calibration.patch_shrink' must be between 0.1 and 0.95")
    return rules


def _compare_rules(raw: dict[str, Any]) -> CompareRules:
    table = {k: v for k, v in raw["compare"].items() if k != "blocking_checks"}
    table |= raw["density"] | raw["coverage"]
    hints = {k: v for k, v in typing.get_type_hints(CompareRules).items() if k != "blocking_checks"}
    values: dict[str, Any] = {}
    for name, kind in hints.items():
        value = _number(table[name], f"compare/density/coverage.{name}")
        values[name] = int(value) if kind is int else value
    return CompareRules(blocking_checks=_strings(raw["compare"]["blocking_checks"], "compare.blocking_checks"),
                        **values)


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Load a protocol file, or the shipped default when ``path`` is None.

    Parameters
    ----------
    path : str or Path, optional
        A TOML protocol file. Its keys are merged over the default protocol.

    Returns
    -------
    Protocol
    """
    if path is None:
        return parse_protocol("", source="default")
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise InputError(f"protocol file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"protocol file unreadable: {path} ({exc.__class__.__name__})") from None
    return parse_protocol(text, source=str(path))
