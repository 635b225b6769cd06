"""Statistical process control of photography drift (pipelines/drift.py) on simulated series
whose changes are known."""
from __future__ import annotations

import datetime as dt
import math
import random
import time

import numpy as np
import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from pipelines.drift import ControlChart, Observation, SPCSettings, control_chart

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)
DEFAULT = SPCSettings()


def observations(values) -> list[Observation]:
    """Photo i taken i hours after T0."""
    return [Observation(f"station-1/p{i:05d}.jpg", T0 + dt.timedelta(hours=i), float(v))
            for i, v in enumerate(values)]


def chart(values, spc: SPCSettings = DEFAULT, quantity: str = "exposure_ev", unit: str = "EV") -> ControlChart:
    return control_chart(observations(values), spc, group_kind="station", group="station-1", quantity=quantity,
                         unit=unit)


def index(when: dt.datetime) -> int:
    return round((when - T0) / dt.timedelta(hours=1))


def shewhart_signals(c: ControlChart, reference: int) -> np.ndarray:
    x = np.array(c.values)
    out = np.flatnonzero((x > c.upper_limit) | (x < c.lower_limit))
    return out[out >= reference]


def event_keys(c: ControlChart):
    return [(e.rule, e.direction, e.since, e.detected_at, e.photos) for e in c.events]


def test_centre_sigma_and_ewma_by_hand():
    values = [10.0, 12.0, 11.0, 13.0, 12.0, 10.0, 11.0, 12.0, 11.0, 12.0]
    spc = SPCSettings(reference_photos=8, min_photos=8, ewma_lambda=0.25)
    c = chart(values, spc)
    assert c.centre == pytest.approx(91.0 / 8)
    # moving ranges of the reference: 2 1 2 1 2 1 1 -> mean 10/7
    assert c.sigma == pytest.approx(10.0 / 7 / 1.128)
    assert c.upper_limit == pytest.approx(91.0 / 8 + 3 * 10.0 / 7 / 1.128)
    assert c.lower_limit == pytest.approx(91.0 / 8 - 3 * 10.0 / 7 / 1.128)
    assert c.reference_end == T0 + dt.timedelta(hours=7)
    z = 91.0 / 8
    for i, x in enumerate(values, start=1):
        z = 0.25 * x + 0.75 * z
        half = 3 * c.sigma * math.sqrt(0.25 / 1.75 * (1 - 0.75 ** (2 * i)))
        assert c.ewma[i - 1] == pytest.approx(z)
        assert c.ewma_upper[i - 1] == pytest.approx(c.centre + half)
        assert c.ewma_lower[i - 1] == pytest.approx(c.centre - half)
    assert c.ewma_upper[0] == pytest.approx(c.centre + 3 * c.sigma * 0.25)  # first: L sigma lambda
    assert c.events == () and c.note is None


def test_stationary_noise_rarely_alarms():
    # 20 seeds x 200 photos, the first 100 the reference: 2000 judged photos. With the true
    # mean and sigma, the Shewhart rule signals a photo with p = 2 Phi(-3) = 0.0027 (5.4
    # expected) and the EWMA (lambda 0.2, L 3) has an in-control average run length of ~560
    # photos (Markov chain of Brook & Evans 1972; Lucas & Saccucci 1990, table 3): 3.6 expected.
    # So about 9 findings in all (fewer: a jump and an EWMA signal of one excursion are one
    # finding). Estimating centre and sigma from 100 photos raises this a little (Jones, Champ &
    # Rigdon 2001): 10,000 simulated series gave 0.58 findings each, i.e. 11.7 per 20 series, and
    # a 99.9th percentile of 24 for the 20-series total. A bound of 25 holds for a correct chart;
    # 2-sigma limits (p = 0.046: ~90 findings) or a sigma off by a factor 1.5 would fail it.
    spc = SPCSettings(reference_photos=100)
    total = 0
    for seed in range(20):
        c = chart(np.random.default_rng(seed).normal(5.0, 0.3, 200), spc)
        assert c.centre == pytest.approx(5.0, abs=0.15) and c.sigma == pytest.approx(0.3, rel=0.3)
        for e in c.events:
            assert index(e.detected_at) >= 100, "the reference period is never judged"
        total += len(c.events)
    assert total <= 25


def test_step_is_a_jump():
    # +4 sigma (sigma 2 units) from photo 60, default settings (reference: photos 0-19). The
    # Shewhart rule sees each photo after the step with p = Phi(1) = 0.84, so it signals at 60,
    # else at 61 or 62; only a chance earlier signal in the same EWMA excursion (the 20-photo
    # reference is noisy) or an EWMA signal first moves it (simulated: 86% of series pass).
    passed = 0
    for seed in range(20):
        values = np.random.default_rng(seed).normal(50.0, 2.0, 120)
        values[60:] += 8.0
        c = chart(values)
        (step,) = [e for e in c.events if e.photos[-1] == "station-1/p00119.jpg"]
        assert step.direction == "up"
        assert step.photos == tuple(f"station-1/p{i:05d}.jpg" for i in range(index(step.since), 120))
        assert step.size_sigma == pytest.approx(step.size / c.sigma)
        if step.rule == "shewhart" and 60 <= index(step.detected_at) <= 62:
            passed += 1
            assert step.since == step.detected_at
            assert step.size == pytest.approx(8.0, abs=1.5)  # centre error ~ 2/sqrt(20) units
    assert passed >= 15


def test_slow_ramp_is_found_by_the_ewma_before_any_jump():
    # 0.05 sigma per photo from photo 40 (reference: photos 0-39, so normal is normal). The EWMA
    # signals ~20 photos in (ramp ~1 sigma); the ramp alone passes 3 sigma only at photo 100,
    # but noise can push a photo beyond it first: P(a jump among photos 40-60) ~ 0.15, more with
    # the estimated limits (simulated: 72% of series are EWMA findings detected before any jump).
    spc = SPCSettings(reference_photos=40)
    ewma_first = 0
    for seed in range(40):
        values = np.random.default_rng(seed).normal(0.0, 1.0, 140)
        values[40:] += 0.05 * np.arange(100)
        c = chart(values, spc)
        (ramp,) = [e for e in c.events if e.photos[-1] == "station-1/p00139.jpg"]
        assert ramp.direction == "up" and index(ramp.since) >= 40 and ramp.size > 0
        jumps = shewhart_signals(c, 40)
        if ramp.rule == "ewma":
            assert ramp.since < ramp.detected_at
            if not len(jumps) or index(ramp.detected_at) < jumps[0]:
                ewma_first += 1
                assert 45 <= index(ramp.detected_at) <= 90
    assert ewma_first >= 20


def test_exposure_creeping_down():
    values = np.random.default_rng(7).normal(0.0, 0.1, 100)
    values[30:] -= 0.01 * np.arange(70)  # the lamp loses 0.01 EV per photo
    c = chart(values)
    (creep,) = [e for e in c.events if e.photos[-1] == "station-1/p00099.jpg"]
    assert creep.direction == "down" and creep.size < -0.2 and creep.size_sigma < 0
    assert not [e for e in c.events if e.direction == "up"]


def test_too_few_photos_no_limits():
    c = chart([0.1, 0.2, 0.0, 0.3, 0.1])
    assert c.note == "5 photos: at least 8 are needed to set limits"
    assert (c.centre, c.sigma, c.lower_limit, c.upper_limit, c.reference_end) == (None,) * 5
    assert c.ewma == c.ewma_lower == c.ewma_upper == () and c.events == ()
    assert c.values == (0.1, 0.2, 0.0, 0.3, 0.1) and len(c.photos) == 5

    c = chart([0.1, float("nan"), 0.2, 0.0, float("inf"), 0.3, 0.1, 0.2, 0.1])
    assert c.centre is None and "7 photos" in c.note and "2 without" in c.note

    c = chart(np.zeros(30), SPCSettings(reference_photos=5))
    assert c.centre is None and c.events == () and "reference period is 5 photos" in c.note

    assert chart(np.arange(8.0)).centre == pytest.approx(3.5)  # exactly min_photos: limits


def test_constant_reference_then_a_change_is_an_event():
    c = chart([100.0] * 20 + [400.0] * 3, quantity="camera_settings", unit="ISO")
    assert c.centre == 100.0 and 0 < c.sigma <= 1e-6
    (e,) = c.events
    assert (e.rule, e.direction, e.size) == ("shewhart", "up", 300.0)
    assert index(e.since) == index(e.detected_at) == 20 and len(e.photos) == 3

    unchanged = chart([100.0] * 40, quantity="camera_settings", unit="ISO")
    assert unchanged.events == () and unchanged.ewma == (100.0,) * 40

    # one photo at a new setting is that photo's problem (its checks say so); two are a finding
    assert chart([0.1] * 20 + [0.1] * 5 + [0.09], quantity="camera_settings", unit="x").events == ()
    (down,) = chart([0.1] * 20 + [0.1] * 5 + [0.09] * 2, quantity="camera_settings", unit="x").events
    assert down.direction == "down" and index(down.detected_at) == 25


def test_unsorted_input_and_non_finite_values():
    values = np.random.default_rng(3).normal(10.0, 1.0, 150)
    values[90:] += 3.0
    obs = observations(values)
    shuffled = obs[:]
    random.Random(1).shuffle(shuffled)
    kw = dict(group_kind="station", group="station-1", quantity="focus", unit="1")
    reference = control_chart(obs, DEFAULT, **kw)
    assert reference.events
    assert control_chart(shuffled, DEFAULT, **kw) == reference

    bad = [Observation(f"bad{i}.jpg", T0 + dt.timedelta(hours=i, minutes=30), v)
           for i, v in enumerate([float("nan"), float("inf"), -float("inf"), float("nan")] * 5)]
    mixed = shuffled + bad
    random.Random(2).shuffle(mixed)
    c = control_chart(mixed, DEFAULT, **kw)
    assert c == reference
    assert all(math.isfinite(v) for v in c.values) and not any(p.startswith("bad") for p in c.photos)


def test_events_do_not_repeat_for_one_drift():
    # A sustained 1.2-sigma shift: the EWMA hovers about its limit (1 sigma) and the Shewhart
    # rule fires now and then; it is one excursion from the centre line, so one finding.
    values = np.random.default_rng(5).normal(0.0, 1.0, 300)
    values[100:] += 1.2
    c = chart(values, SPCSettings(reference_photos=100))
    late = [e for e in c.events if index(e.detected_at) >= 100]
    assert len(late) == 1 and late[0].direction == "up"
    assert len(late[0].photos) > 150


def test_ten_thousand_photos_fast():
    values = np.random.default_rng(11).normal(0.0, 1.0, 10_000)
    values[8_000:] -= 5.0
    start = time.perf_counter()
    c = chart(values, SPCSettings(reference_photos=200))
    assert time.perf_counter() - start < 2.0  # ~0.1 s here
    assert len(c.ewma) == 10_000
    (jump,) = [e for e in c.events if e.photos[-1] == "station-1/p09999.jpg"]
    assert jump.direction == "down" and index(jump.detected_at) in (8_000, 8_001, 8_002)


@hypothesis_settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(25, 150), step_at=st.integers(0, 149),
       step=st.floats(-6.0, 6.0), shift=st.floats(-1e4, 1e4), scale=st.floats(1e-3, 1e3))
def test_shift_and_scale(seed, n, step_at, step, shift, scale):
    values = np.random.default_rng(seed).normal(0.0, 1.0, n)
    values[step_at:] += step
    base = chart(values)
    shifted = chart(values + shift)
    scaled = chart(values * scale)

    tol = 1e-9 * (1.0 + abs(shift))
    assert shifted.centre == pytest.approx(base.centre + shift, abs=tol)
    assert shifted.sigma == pytest.approx(base.sigma, abs=tol)
    assert shifted.upper_limit == pytest.approx(base.upper_limit + shift, abs=tol)
    assert shifted.lower_limit == pytest.approx(base.lower_limit + shift, abs=tol)
    assert np.allclose(shifted.ewma_upper, np.array(base.ewma_upper) + shift, rtol=0, atol=tol)
    assert event_keys(shifted) == event_keys(base)
    for a, b in zip(shifted.events, base.events):
        assert a.size == pytest.approx(b.size, abs=tol)

    assert scaled.centre == pytest.approx(base.centre * scale, rel=1e-9, abs=1e-12)
    assert scaled.sigma == pytest.approx(base.sigma * scale, rel=1e-9)
    assert len(scaled.events) == len(base.events)
    assert event_keys(scaled) == event_keys(base)
    for a, b in zip(scaled.events, base.events):
        assert a.size == pytest.approx(b.size * scale, rel=1e-9, abs=1e-12 * scale)
        assert a.size_sigma == pytest.approx(b.size_sigma, rel=1e-9, abs=1e-9)


def test_one_photo_beyond_the_limits_is_not_drift_two_in_a_row_are():
    rng = np.random.default_rng(3)
    start = dt.datetime(2026, 1, 1)
    values = rng.normal(0.0, 1.0, 60)
    values[:20] = np.clip(values[:20], -2, 2)  # a calm reference

    def events(series):
        obs = [Observation(f"p{i}", start + dt.timedelta(days=i), float(v)) for i, v in enumerate(series)]
        return control_chart(obs, SPCSettings(), group_kind="station", group="s", quantity="q", unit="u").events

    calm = np.clip(values, -2, 2)
    one = calm.copy()
    one[40] = 8.0
    two = one.copy()
    two[41] = 8.0
    assert not events(calm)
    assert not events(one)
    found = events(two)
    assert len(found) == 1 and found[0].rule == "shewhart" and found[0].photos[:2] == ("p40", "p41")
