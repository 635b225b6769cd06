"""Timestamp rules: is the capture time present, believable and consistent with the visit?

Each function checks one rule and returns a :class:`~photostation.results.Check`; all limits
come from the protocol's ``[timestamps]`` and ``[[schedule.visits]]`` tables.

Capture times without a UTC offset are camera wall-clock times. Two of them are compared as
wall-clock times; against the current time they get the widest offset (+-14 h) so that a
naive time is never called "in the future" because of its time zone.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from photostation.metadata import PhotoMetadata
from photostation.protocol import ScheduledVisit, TimestampRules
from photostation.results import Check

_MAX_UTC_OFFSET = dt.timedelta(hours=14)


def _wall_clock_pair(a: dt.datetime, b: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    if a.tzinfo is not None and b.tzinfo is not None:
        return a, b
    return a.replace(tzinfo=None), b.replace(tzinfo=None)


def difference(later: dt.datetime, earlier: dt.datetime) -> dt.timedelta:
    """``later - earlier``, as absolute times when both carry an offset, else as wall-clock times."""
    a, b = _wall_clock_pair(later, earlier)
    return a - b


def check_present(meta: PhotoMetadata) -> Check:
    """DateTimeOriginal must be present and a real date (CIPA DC-008, tag 0x9003)."""
    if meta.captured_at:
        return Check("timestamp.present", "pass", meta.captured_at, None, "capture time recorded")
    garbled = "DateTimeOriginal" in meta.exif_problems
    return Check("timestamp.present", "fail", None, None,
                 "DateTimeOriginal is not a valid date: the capture time cannot be trusted" if garbled
                 else "no capture time (DateTimeOriginal missing): the photo cannot be dated")


def check_not_future(meta: PhotoMetadata, now: dt.datetime, rules: TimestampRules) -> Check:
    """The capture time must not lie in the future (camera clock set ahead or wrong)."""
    captured = meta.captured_datetime
    limit = f"now + {rules.future_tolerance_minutes:g} min"
    if captured is None:
        return Check("timestamp.future", "pass", None, limit, "no capture time to compare")
    now_utc = now.astimezone(dt.timezone.utc) if now.tzinfo else now.replace(tzinfo=dt.timezone.utc)
    tolerance = dt.timedelta(minutes=rules.future_tolerance_minutes)
    if captured.tzinfo is not None:
        ahead = captured - now_utc
    else:
        ahead = captured - (now_utc.replace(tzinfo=None) + _MAX_UTC_OFFSET)
    if ahead > tolerance:
        return Check("timestamp.future", "fail", meta.captured_at, limit,
                     f"captured {_span(ahead)} in the future: the camera clock is wrong; set it and retake")
    return Check("timestamp.future", "pass", meta.captured_at, limit, "capture time is not in the future")


def check_plausible(meta: PhotoMetadata, rules: TimestampRules) -> Check:
    """The capture time must not predate the protocol's oldest plausible date (a reset clock)."""
    captured = meta.captured_datetime
    limit = rules.oldest_plausible_date.isoformat()
    if captured is None:
        return Check("timestamp.plausible", "pass", None, limit, "no capture time to compare")
    if captured.date() < rules.oldest_plausible_date:
        return Check("timestamp.plausible", "fail", meta.captured_at, limit,
                     f"captured {captured.date().isoformat()}, before {limit}: the camera clock was reset")
    new_year = captured.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if captured - new_year <= dt.timedelta(minutes=rules.clock_reset_window_minutes):
        return Check("timestamp.plausible", "warn", meta.captured_at, limit,
                     "captured just after midnight on 1 January: looks like a reset camera clock")
    return Check("timestamp.plausible", "pass", meta.captured_at, limit, "capture date is plausible")


def check_modified_after_capture(meta: PhotoMetadata, rules: TimestampRules) -> Check:
    """DateTime (file changed) later than DateTimeOriginal means the file was rewritten."""
    captured, modified = meta.captured_datetime, meta.modified_datetime
    limit = f"{rules.modified_after_capture_tolerance_s:g} s"
    if captured is None or modified is None:
        return Check("timestamp.modified_after_capture", "pass", None, limit,
                     "no modification time to compare" if captured else "no capture time to compare")
    later = difference(modified, captured)
    if later.total_seconds() > rules.modified_after_capture_tolerance_s:
        return Check("timestamp.modified_after_capture", rules.modified_after_capture_severity,
                     round(later.total_seconds(), 3), limit,
                     f"file modified {_span(later)} after capture: it was edited or re-saved; use the camera original")
    return Check("timestamp.modified_after_capture", "pass", round(later.total_seconds(), 3), limit,
                 "file not modified after capture")


def check_editing_software(meta: PhotoMetadata, rules: TimestampRules) -> Check:
    """An editing program named in the Software tag means the pixels may have been changed."""
    software = meta.software or ""
    hit = next((name for name in rules.editing_software if name in software.lower()), None)
    if hit:
        return Check("metadata.editing_software", rules.editing_software_severity, software, None,
                     f"saved by an editing program ({software}): use the camera original")
    return Check("metadata.editing_software", "pass", meta.software, None, "no editing program recorded")


def check_order(meta: PhotoMetadata, baseline: PhotoMetadata) -> Check:
    """A follow-up must be captured after its baseline."""
    captured, base = meta.captured_datetime, baseline.captured_datetime
    if captured is None or base is None:
        return Check("timestamp.order", "warn", None, None,
                     "cannot order follow-up and baseline: a capture time is missing")
    gap = difference(captured, base)
    days = round(gap.total_seconds() / 86400, 2)
    if gap.total_seconds() <= 0:
        return Check("timestamp.order", "fail", days, "> 0 days",
                     f"follow-up captured {_span(-gap)} before its baseline: wrong photo or wrong camera clock")
    return Check("timestamp.order", "pass", days, "> 0 days", f"captured {days:g} days after baseline")


def check_schedule_window(days_after_baseline: float | None, scheduled: ScheduledVisit | None,
                          rules: TimestampRules) -> Check:
    """The visit must fall inside its schedule window (e.g. month 6 = day 182 +- 21)."""
    if scheduled is None:
        return Check("schedule.window", "pass", days_after_baseline, None, "visit is not in the schedule")
    low, high = scheduled.day - scheduled.window_days, scheduled.day + scheduled.window_days
    limit = [low, high]
    if days_after_baseline is None:
        return Check("schedule.window", "warn", None, limit,
                     f"cannot place '{scheduled.label}' in the schedule: a date is missing")
    value = round(days_after_baseline, 2)
    if low <= days_after_baseline <= high:
        return Check("schedule.window", "pass", value, limit,
                     f"'{scheduled.label}' on day {value:g} (window {low}-{high})")
    return Check("schedule.window", rules.schedule_window_severity, value, limit,
                 f"'{scheduled.label}' on day {value:g} after baseline, outside the window {low}-{high}")


def check_visit_spread(captures: Sequence[dt.datetime], rules: TimestampRules) -> Check:
    """All views of one visit must be captured within the protocol's span."""
    limit = f"{rules.max_visit_spread_hours:g} h"
    if len(captures) < 2:
        return Check("visit.spread", "pass", 0.0, limit, "fewer than two dated photos")
    if all(t.tzinfo is not None for t in captures):
        times = list(captures)
    else:
        times = [t.replace(tzinfo=None) for t in captures]
    hours = round((max(times) - min(times)).total_seconds() / 3600, 3)
    if hours > rules.max_visit_spread_hours:
        return Check("visit.spread", rules.visit_spread_severity, hours, limit,
                     f"views captured over {hours:g} h: more than one session or a wrong camera clock")
    return Check("visit.spread", "pass", hours, limit, f"views captured within {hours:g} h")


def check_visit_date(visit_date: dt.date | None, captures: Sequence[dt.datetime], rules: TimestampRules) -> Check:
    """Capture dates must match the visit date recorded in the manifest."""
    limit = f"{rules.visit_date_tolerance_days} day(s)"
    if visit_date is None or not captures:
        return Check("visit.date", "pass", None, limit, "no visit date or no dated photo to compare")
    worst_days = max(abs((c.date() - visit_date).days) for c in captures)
    if worst_days > rules.visit_date_tolerance_days:
        return Check("visit.date", "fail", worst_days, limit,
                     f"photos captured up to {worst_days} days from the visit date {visit_date.isoformat()}")
    return Check("visit.date", "pass", worst_days, limit, "capture dates match the visit date")


def _span(delta: dt.timedelta) -> str:
    seconds = abs(delta.total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
