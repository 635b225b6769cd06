"""Visit sessions for the benchmarks: what a protocol-conformant baseline and follow-up
look like (camera EXIF, capture times in the month-6 window, natural repositioning error
and light variation). Shared by ``shot_qa.py`` and ``compare.py`` so that their clean pairs
are the same kind of pair."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction

import numpy as np

from photostation.synthetic import ExifFields, Lighting, Optics, Pose
from photostation.synthetic.samples import central_european_offset

INTERVAL_DAYS = 182
RELAY_DEG = 60.0
"""Long hair is combed again between visits: the follow-up's lie direction turns by up to
this much (``evolve_patch(relay_deg=...)``), as washing, combing and a new parting do."""
FIRST_BASELINE = datetime(2026, 2, 1, 8, 30)
BASELINE_SPAN_DAYS = 59          # baselines fall in Feb-Mar 2026, so day 230 is before NOW


@dataclass(frozen=True)
class Shot:
    """How one photo of a pair is taken: pose, light, optics and what EXIF says."""

    pose: Pose
    lighting: Lighting
    optics: Optics
    exif: ExifFields


def camera_exif(kind, captured: datetime, size: tuple[int, int]) -> ExifFields:
    """EXIF of a protocol-conformant shot (crown: Canon with flash; trichoscopy: medicam)."""
    if kind.family == "crown":
        return ExifFields(make="Canon", model="Canon EOS R8", serial="083021001742",
                          lens="RF24-105mm F4-7.1 IS STM", focal_length_mm=50.0,
                          focal_length_35mm=int(kind.focal_length_35mm),
                          exposure_time_s=Fraction(1, 125), f_number=8.0, iso=100,
                          flash_fired=True, white_balance="manual", captured_at=captured,
                          width_px=size[0], height_px=size[1])
    return ExifFields(make="FotoFinder", model="medicam 1000s", serial="MC1000S-21-0457",
                      lens="medicam 1000s 20x", focal_length_mm=4.4,
                      focal_length_35mm=int(kind.focal_length_35mm),
                      exposure_time_s=Fraction(1, 30), f_number=5.6, iso=100,
                      flash_fired=False, white_balance="manual", captured_at=captured,
                      width_px=size[0], height_px=size[1])


def aware(local: datetime) -> datetime:
    """Attach the clinic's Central European offset to a naive local time."""
    return local.replace(tzinfo=central_european_offset(local))


def capture_times(rng: np.random.Generator) -> tuple[datetime, datetime]:
    """Baseline capture time and a follow-up inside the month-6 window (182 +- 5 days)."""
    base = FIRST_BASELINE + timedelta(days=int(rng.integers(0, BASELINE_SPAN_DAYS)),
                                      minutes=int(rng.integers(0, 8 * 60)),
                                      seconds=float(rng.uniform(0, 60)))
    follow = base + timedelta(days=INTERVAL_DAYS + int(rng.integers(-5, 6)),
                              minutes=int(rng.integers(-90, 90)),
                              seconds=float(rng.uniform(0, 60)))
    return aware(base), aware(follow)


def random_shift_mm(rng: np.random.Generator, max_mm: float) -> tuple[float, float]:
    """A displacement of random direction and length up to ``max_mm``."""
    a, r = rng.uniform(0, 2 * np.pi), max_mm * math.sqrt(rng.uniform(0, 1))
    return float(r * math.cos(a)), float(r * math.sin(a))


def natural_baseline_pose(rng: np.random.Generator, kind) -> Pose:
    """Baseline placement: within a degree and a percent of the nominal set-up."""
    return Pose(rotation_deg=float(rng.uniform(-1, 1)), tilt_deg=float(rng.uniform(0, 0.7)),
                tilt_axis_deg=float(rng.uniform(0, 180)), scale=float(1 + rng.uniform(-0.01, 0.01)),
                shift_mm=random_shift_mm(rng, 0.01 * kind.field_width_mm))


def natural_followup_pose(rng: np.random.Generator, kind, base: Pose) -> Pose:
    """Follow-up repositioning error: roll +-2 deg, tilt <= 0.7 deg (up to 1.4 deg relative to
    the baseline), scale +-2 %, aim moved by up to 2 % of the field width."""
    dx, dy = random_shift_mm(rng, 0.02 * kind.field_width_mm)
    return Pose(rotation_deg=base.rotation_deg + float(rng.uniform(-2, 2)),
                tilt_deg=float(rng.uniform(0, 0.7)), tilt_axis_deg=float(rng.uniform(0, 180)),
                scale=base.scale * float(1 + rng.uniform(-0.02, 0.02)),
                shift_mm=(base.shift_mm[0] + dx, base.shift_mm[1] + dy))


def natural_lighting_pair(rng: np.random.Generator, kind) -> tuple[Lighting, Lighting]:
    """Baseline light and a follow-up within +-0.1 EV and +-5 mired, same fall-off."""
    base = Lighting(exposure_ev=float(rng.uniform(-0.05, 0.05)),
                    white_balance_shift_mired=float(rng.uniform(-2, 2)),
                    gradient_strength=float(rng.uniform(0, 0.05)),
                    gradient_direction_deg=float(rng.uniform(0, 360)),
                    vignetting=kind.vignetting)
    follow = replace(base, exposure_ev=base.exposure_ev + float(rng.uniform(-0.1, 0.1)),
                     white_balance_shift_mired=base.white_balance_shift_mired
                     + float(rng.uniform(-5, 5)))
    return base, follow
