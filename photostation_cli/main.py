"""``photostation`` command line. Thin: parse options, call the library, present results.

Exit codes (all commands): 0 success (verdict pass or warn), 1 a check failed, 2 unreadable
input or bad usage (one line on stderr), 3 internal error (one line; set
``PHOTOSTATION_DEBUG=1`` for the traceback).
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from photostation.errors import InputError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
_STATUS_COLOUR = {"pass": "green", "warn": "yellow", "fail": "red"}


def _protocol(path: Path | None):
    from photostation.protocol import load_protocol

    return load_protocol(path)


def _status(text: str) -> str:
    return click.style(text.upper(), fg=_STATUS_COLOUR.get(text), bold=True)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _archive_options(command):
    """ARCHIVE, --db and --protocol, as ingest and audit take them."""
    for option in reversed([
        click.argument("archive", type=click.Path(path_type=Path, file_okay=False)),
        click.option("--db", help="Ledger database: SQLAlchemy URL or SQLite file "
                                  "(default: $PHOTOSTATION_DB or sqlite:///photostation.db)."),
        click.option("--protocol", "protocol_path", type=click.Path(path_type=Path, dir_okay=False),
                     help="Protocol TOML file (default: the shipped protocol)."),
    ]):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="photostation")
def cli() -> None:
    """Standardised scalp photography: shot QA, archive ledger and month-6 comparison."""


@cli.command()
@click.argument("photo", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--baseline", type=click.Path(path_type=Path, dir_okay=False),
              help="Baseline photo of the same view to compare camera settings and timing with.")
@click.option("--protocol", "protocol_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Protocol TOML file (default: the shipped protocol).")
@click.option("--view", help="View name (default: the file name in the archive layout, e.g. vertex).")
@click.option("--visit", help="Visit label (default: the folder name in the archive layout, e.g. month-6).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="With --baseline: write the ghost overlay (the baseline over this shot) as a PNG here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (see README: JSON contract).")
def check(photo: Path, baseline: Path | None, protocol_path: Path | None, view: str | None, visit: str | None,
          out_dir: Path | None, as_json: bool) -> None:
    """Accept/retake verdict for one PHOTO (exit 0 pass/warn, 1 fail, 2 unreadable)."""
    from photostation.shot import check_photo

    if out_dir is not None and baseline is None:
        raise click.UsageError("--out writes the ghost overlay of the baseline: give --baseline too")
    report = check_photo(photo, _protocol(protocol_path), baseline=baseline, view=view, visit=visit)
    if out_dir is not None:
        written = _write_ghost(photo, baseline, report, out_dir)
        if not as_json:
            click.echo(f"ghost overlay: {written}")
    if as_json:
        _print_json(report.to_json())
    else:
        click.echo(f"{photo.name}: {_status(report.verdict)}")
        for c in report.checks:
            if c.status != "pass":
                click.echo(f"  {_status(c.status):>6}  {c.name}: {c.message}")
        passed = sum(1 for c in report.checks if c.status == "pass")
        click.echo(f"  {passed} of {len(report.checks)} checks passed")
    sys.exit(EXIT_FAIL if report.verdict == "fail" else EXIT_OK)


def _write_ghost(photo: Path, baseline: Path, report, out_dir: Path) -> Path:
    import numpy as np
    from PIL import Image

    from photostation.imaging import decode
    from photostation.qa.ghost import ghost_overlay
    from photostation.writing import write_atomic

    shot, base = decode(photo, max_side=1600), decode(baseline, max_side=1600)
    matrix = None
    if report.pair is not None and report.pair.matrix_original is not None:
        # The registration refers to full-resolution pixels; bring it to the decoded sizes.
        m = report.metadata
        bm = report.baseline_metadata
        s_shot = shot.shape[1] / (m.width or shot.shape[1])
        s_base = base.shape[1] / (bm.width or base.shape[1])
        matrix = np.diag([s_base, s_base, 1.0]) @ report.pair.matrix_original @ np.diag([1 / s_shot, 1 / s_shot, 1.0])
    overlay = ghost_overlay(shot, base, matrix)
    target = out_dir / f"{photo.stem}_ghost.png"
    write_atomic(target, lambda handle: Image.fromarray(overlay).save(handle, "PNG"))
    return target


@cli.command()
@_archive_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def ingest(archive: Path, db: str | None, protocol_path: Path | None, as_json: bool) -> None:
    """Fingerprint, read and check every photo of ARCHIVE into the ledger (idempotent)."""
    from photostation.archive import scan_archive
    from photostation.ingest import ingest_archive
    from photostation.ledger import database_url, open_ledger

    protocol = _protocol(protocol_path)
    total = len(scan_archive(archive, protocol).photos)
    factory = open_ledger(db)
    # The bar goes to stderr and only to a terminal, so piped output stays clean.
    with click.progressbar(length=total, label="ingesting", file=sys.stderr,
                           show_pos=True, hidden=as_json or not sys.stderr.isatty()) as bar:
        report = ingest_archive(archive, factory, protocol, on_photo=lambda _entry: bar.update(1))
    if as_json:
        _print_json({"archive": report.archive, "photos": report.photos, "added": report.added,
                     "updated": report.updated, "unchanged": report.unchanged,
                     "changed_bytes": list(report.changed_bytes), "missing_files": list(report.missing_files),
                     "unreadable": list(report.unreadable),
                     "skipped": [{"path": s.relative_path, "reason": s.reason} for s in report.skipped],
                     "photo_verdicts": report.photo_verdicts, "visit_verdicts": report.visit_verdicts,
                     "unmatched_manifest_rows": list(report.unmatched_manifest_rows),
                     "failed": [{"item": item, "checks": list(names)} for item, names in report.failed]})
    else:
        from photostation.ledger import redact_url

        click.echo(f"ledger: {redact_url(database_url(db))}")
        click.echo(f"photos: {report.photos} ({report.added} added, {report.updated} updated, "
                   f"{report.unchanged} unchanged, {len(report.unreadable)} unreadable, "
                   f"{len(report.changed_bytes)} changed since ingest)")
        verdicts = ", ".join(f"{report.photo_verdicts.get(s, 0)} {s}" for s in ("pass", "warn", "fail"))
        click.echo(f"photo verdicts: {verdicts}")
        verdicts = ", ".join(f"{report.visit_verdicts.get(s, 0)} {s}" for s in ("pass", "warn", "fail"))
        click.echo(f"visit verdicts: {verdicts}")
        for item, names in report.failed:
            click.echo(f"  {_status('fail')} {item}: {', '.join(names)}")
        for label, items in (("CHANGED after ingest", report.changed_bytes), ("MISSING", report.missing_files),
                             ("unreadable", report.unreadable)):
            for item in items:
                click.echo(f"  {label}: {item}")
        for skipped in report.skipped:
            click.echo(f"  skipped {skipped.relative_path}: {skipped.reason}")
        for line in report.unmatched_manifest_rows:
            click.echo(f"  manifest line {line} matches no photo")
    sys.exit(report.exit_code)


@cli.command()
@_archive_options
@click.option("--report", "report_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write the month-6 report here: report.html, pairs.csv, checks.csv, drift.csv, audit.json.")
@click.option("--workers", type=click.IntRange(min=1), help="Local worker processes (default: the number of cores).")
@click.option("--scheduler", help="Run the work on this Dask distributed scheduler (e.g. tcp://10.0.0.5:8786).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def audit(archive: Path, db: str | None, protocol_path: Path | None, report_dir: Path | None, workers: int | None,
          scheduler: str | None, as_json: bool) -> None:
    """Check every photo of ARCHIVE, compare every follow-up with its baseline, find drift (exit 0 clean, 1 findings)."""
    import time

    from photostation.ledger import database_url, open_ledger, redact_url
    from pipelines.audit import make_runner, run_audit
    from pipelines.audit_summary import audit_summary

    if not archive.is_dir():
        raise InputError(f"archive folder not found: {archive}")
    protocol = _protocol(protocol_path)
    factory = open_ledger(db)
    runner = make_runner(workers, scheduler)
    started = time.monotonic()
    show = not as_json and sys.stderr.isatty()
    bars: dict[str, Any] = {"photos:start": started}

    def progress(stage: str, done: int, total: int) -> None:
        if not show:
            return
        bar = bars.get(stage)
        if bar is None:
            label = "checking photos" if stage == "photos" else "comparing pairs"
            bars.setdefault(stage + ":start", time.monotonic())
            bar = bars[stage] = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True,
                                                  show_eta=True, item_show_func=lambda _: _rate(stage))
            bar.__enter__()
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)
            bars["pairs:start"] = time.monotonic()  # the comparisons start when the photos are done

    def _rate(stage: str) -> str:
        bar, start = bars.get(stage), bars[stage + ":start"]
        elapsed = time.monotonic() - start
        return f"{bar.pos / elapsed:.2f}/s" if bar is not None and elapsed > 0 and bar.pos else ""

    try:
        run = run_audit(archive, factory, protocol, db_url=database_url(db), runner=runner, on_progress=progress)
    finally:
        runner.close()
    summary = audit_summary(factory, protocol)
    written = []
    if report_dir is not None:
        from pipelines.audit_report import write_report

        written = write_report(summary, report_dir)
    from pipelines.audit_report import cohort_counts

    cohort = cohort_counts(summary.pairs)
    failed_checks = sum(1 for c in summary.checks if c.status == "fail")
    seconds = time.monotonic() - started
    data = {"archive": str(archive), "photos": run.ingest.photos, "photos_checked": run.ingest.added +
            run.ingest.updated + len(run.ingest.unreadable), "pairs": run.pairs, "pairs_compared": run.compared,
            "cohort": cohort, "failed_checks": failed_checks, "findings": len(summary.findings),
            "drift_events": len(summary.events), "workers": run.workers, "seconds": round(seconds, 1),
            "report_files": [str(p) for p in written],
            "skipped": [{"path": s.relative_path, "reason": s.reason} for s in run.ingest.skipped]}
    if as_json:
        _print_json(data)
    else:
        click.echo(f"ledger: {redact_url(database_url(db))}")
        click.echo(f"photos: {data['photos']} ({data['photos_checked']} checked in this run); pairs: {run.pairs} "
                   f"({run.compared} compared in this run) on {run.workers} worker(s) in {seconds:.1f} s")
        click.echo("cohort: " + ", ".join(f"{cohort.get(k, 0)} {k.replace('_', ' ')}"
                                          for k in ("improved", "stable", "worse", "not_comparable", "no_outcome")))
        click.echo(f"failed checks: {failed_checks}; findings: {len(summary.findings)}; "
                   f"drift events: {len(summary.events)}")
        for event in summary.events:
            click.echo(f"  drift: {event.group_kind} {event.group}: {event.quantity} {event.direction} by "
                       f"{event.size:+.3g} {event.unit} since {event.since:%Y-%m-%d} ({len(event.photos)} photos)")
        for finding in summary.findings:
            where = f"{finding.patient}: " if finding.patient else ""
            click.echo(f"  {finding.kind}: {where}{finding.message}")
        for skipped in run.ingest.skipped:  # not read: a link out of the archive, a name that is not an ID
            click.echo(f"  skipped {skipped.relative_path}: {skipped.reason}")
        for path in written:
            click.echo(f"report: {path}")
    clean = not (failed_checks or summary.findings or summary.events or cohort.get("not_comparable"))
    sys.exit(EXIT_OK if clean else EXIT_FAIL)


@cli.command()
@click.option("--db", help="Ledger database: SQLAlchemy URL or SQLite file "
                           "(default: $PHOTOSTATION_DB or sqlite:///photostation.db).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object (see README: verify).")
def verify(db: str | None, as_json: bool) -> None:
    """Re-hash the photos and walk the review trail (exit 0 nothing found, 1 anything changed, edited or deleted)."""
    from sqlalchemy.exc import SQLAlchemyError

    from photostation.ledger import database_url, open_ledger, redact_url
    from photostation.trail import verify_ledger

    factory = open_ledger(db, create=False)
    try:
        report = verify_ledger(factory)
    except SQLAlchemyError as exc:  # a database that is not (or no longer) a readable ledger
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise InputError(f"--db: cannot read the ledger {redact_url(database_url(db))} ({reason})") from None
    finally:
        factory.kw["bind"].dispose()
    if as_json:
        _print_json(report.to_json())
        sys.exit(EXIT_OK if report.ok else EXIT_FAIL)
    click.echo(f"ledger: {redact_url(database_url(db))}")
    for photo in report.photos_changed:
        click.echo(f"  CHANGED after ingest: {photo.path} (photo {photo.photo_id}): expected {photo.expected}, "
                   f"found {photo.found}")
    for photo in report.photos_missing:
        click.echo(f"  MISSING: {photo.path} (photo {photo.photo_id}): {photo.reason}")
    for entry in report.entries_edited:
        click.echo(f"  EDITED: {entry.kind} {entry.entry_id} (trail entry {entry.trail_id}): "
                   f"{', '.join(entry.fields)} changed since it was written")
    for entry in report.entries_deleted:
        click.echo(f"  DELETED: {entry.kind} {entry.entry_id} (trail entry {entry.trail_id})")
    for row in report.entries_unchained:
        click.echo(f"  UNCHAINED: {row.kind} {row.entry_id}: written around the application, not in the trail")
    for broken in report.chain_broken:
        click.echo(f"  CHAIN BROKEN at trail entry {broken.trail_id}: {broken.problem}")
    if report.legacy_unchained:
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.legacy_unchained.items()))
        click.echo(f"  not chained (written before tamper evidence): {counts}")
    verdict = click.style("OK", fg="green", bold=True) if report.ok else click.style(
        f"{report.findings} problem(s) found", fg="red", bold=True)
    click.echo(f"verified: {report.photos_checked} photos ({len(report.photos_changed)} changed, "
               f"{len(report.photos_missing)} missing), {report.entries_checked} trail entries "
               f"({len(report.entries_edited)} edited, {len(report.entries_deleted)} deleted, "
               f"{len(report.entries_unchained)} unchained, {len(report.chain_broken)} chain breaks), "
               f"head {report.chain_head}: {verdict}")
    sys.exit(EXIT_OK if report.ok else EXIT_FAIL)


@cli.command()
@click.argument("photo", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--station", help="Station name: its flat-field is applied first, its profile is the fallback "
                                "without a card, and --save stores the result under it.")
@click.option("--device", help="Camera or dermatoscope name (profiles may differ per device at one station).")
@click.option("--db", help="Ledger database (default: $PHOTOSTATION_DB or sqlite:///photostation.db).")
@click.option("--protocol", "protocol_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Protocol TOML file (default: the shipped protocol).")
@click.option("--method", "ccm_method",
              type=click.Choice(["auto", "root_polynomial", "least_squares", "polynomial_ridge", "white_balance",
                                 "opencv"]),
              help="Colour-correction model (default: the protocol's calibration.ccm_method; auto chooses by "
                   "leave-one-patch-out cross-validation).")
@click.option("--flat-field", "flat", is_flag=True,
              help="PHOTO is a uniform grey target: fit the station's flat-field instead.")
@click.option("--mm-per-px", type=float, help="With --save: store this scale for --station/--device (no PHOTO needed).")
@click.option("--save", is_flag=True, help="Store the result as a station profile (needs --station).")
@click.option("--valid-from", type=click.DateTime(["%Y-%m-%d"]),
              help="With --save: first day the profile applies (default: the photo's capture date, else today).")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the corrected photo (.png 8-bit, .tif 16-bit).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (see README: calibrate).")
def calibrate(photo: Path | None, station: str | None, device: str | None, db: str | None,
              protocol_path: Path | None, ccm_method: str | None, flat: bool, mm_per_px: float | None, save: bool,
              valid_from, out_path: Path | None, as_json: bool) -> None:
    """Find the colour card in PHOTO, fit the colour correction, measure the scale (exit 0 ok, 1 fail)."""
    import datetime as dt

    from photostation.calibrate import calibrate_photo, flat_field_from_photo
    from photostation.ledger import open_ledger
    from photostation.metadata import read_metadata
    from photostation.stations import save_profile

    protocol = _protocol(protocol_path)
    if save and not station:
        raise click.UsageError("--save stores a station profile: give --station")
    if mm_per_px is not None:
        if not (save and station) or photo is not None or mm_per_px <= 0:
            raise click.UsageError("--mm-per-px X (> 0) is used with --station S --save and no PHOTO")
        factory = open_ledger(db)
        start = valid_from.date() if valid_from else dt.date.today()
        profile_id = save_profile(factory, station=station, device=device, valid_from=start, source="device-scale",
                                  mm_per_px=mm_per_px)
        _report_saved(as_json, profile_id, station, start, {"mm_per_px": mm_per_px, "device": device})
        sys.exit(EXIT_OK)
    if photo is None:
        raise click.UsageError("Missing argument 'PHOTO'.")
    metadata = read_metadata(photo)
    captured = metadata.captured_datetime
    start = valid_from.date() if valid_from else (captured.date() if captured else dt.date.today())
    if flat:
        flat_field = flat_field_from_photo(photo, protocol)
        profile_id = None
        if save:
            from photostation.imaging import read_bytes
            import hashlib

            digest = hashlib.new(protocol.hash_algorithm, read_bytes(photo)).hexdigest()
            profile_id = save_profile(open_ledger(db), station=station, device=device, valid_from=start,
                                      source="flat-field", flat_field=flat_field, source_digest=digest)
        _report_saved(as_json, profile_id, station, start, {"flat_field_ratio": flat_field.ratio})
        sys.exit(EXIT_OK)
    factory = open_ledger(db) if (station or save) else None
    report = calibrate_photo(photo, protocol, station=station, device=device, factory=factory, ccm_method=ccm_method)
    data = report.to_json()
    if save:
        if report.source != "fitted":
            raise InputError("nothing to save: no card was fitted in this photo")
        import hashlib

        from photostation.imaging import read_bytes

        digest = hashlib.new(protocol.hash_algorithm, read_bytes(photo)).hexdigest()
        data["saved_profile_id"] = save_profile(
            factory, station=station, device=device, valid_from=start, source="card", card_type=report.card.type,
            ccm=report.correction.matrix, ccm_method=report.correction.method, tone_curve=report.correction.tone_curve,
            delta_e00_after_mean=data["delta_e00"]["after_mean"], illuminant_cct_k=report.illuminant_cct_k,
            mm_per_px=report.mm_per_px, source_digest=digest)
    if out_path is not None:
        data["corrected_photo"] = str(_write_corrected(photo, report, out_path))
    if as_json:
        _print_json(data)
    else:
        card = data["card"]["type"] or "no card"
        click.echo(f"{photo.name}: {_status(report.verdict)} ({card}; correction: {report.source})")
        de = data["delta_e00"]
        if de["after_mean"] is not None:
            click.echo(f"  CIEDE2000 mean {de['before_mean']:.2f} before, {de['after_mean']:.2f} after "
                       f"(max {de['after_max']:.2f})")
            if de.get("expected_mean") is not None and data["method"] != "none":
                linearised = "the grey-ramp tone curve, then " if data["linearisation"] == "grey_ramp" else ""
                click.echo(f"  model: {linearised}{data['method']}; expected {de['expected_mean']:.2f} on colours "
                           "not on the card (each patch predicted from the others)")
        if report.mm_per_px is not None:
            click.echo(f"  scale {report.mm_per_px * 1000:.2f} µm per pixel" +
                       (f", card tilted {report.tilt_deg:.1f}°" if report.tilt_deg is not None else ""))
        if report.illuminant_cct_k:
            click.echo(f"  light {report.illuminant_cct_k:.0f} K")
        for flag in report.flags:
            click.echo(f"  note: {flag}")
        for c in report.checks:
            if c.status != "pass":
                click.echo(f"  {_status(c.status):>6}  {c.name}: {c.message}")
        if "saved_profile_id" in data:
            click.echo(f"  saved as profile {data['saved_profile_id']} of {station}, valid from {start}")
        if out_path is not None:
            click.echo(f"  corrected photo: {out_path}")
    sys.exit(EXIT_FAIL if report.verdict == "fail" else EXIT_OK)


def _report_saved(as_json: bool, profile_id: int | None, station: str | None, start, values: dict) -> None:
    data = {"saved_profile_id": profile_id, "station": station, "valid_from": start.isoformat(), **values}
    if as_json:
        _print_json(data)
    else:
        shown = ", ".join(f"{k} {v}" for k, v in values.items() if v is not None)
        click.echo(f"saved as profile {profile_id} of {station}, valid from {start}: {shown}" if profile_id
                   else f"not saved (use --save --station NAME): {shown}")


def _write_corrected(photo: Path, report, out_path: Path) -> Path:
    import numpy as np
    from PIL import Image

    from photostation.calibrate import correct_linear
    from photostation.imaging import decode
    from photostation.qa.pixels import to_linear
    from photostation.writing import write_atomic

    if report.ccm is None and report.flat_field is None:
        raise InputError("no correction to apply: no card in the photo and no station profile")
    linear = correct_linear(to_linear(decode(photo)), ccm=report.ccm, flat_field=report.flat_field,
                            tone_curve=report.tone_curve)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    if out_path.suffix.lower() in (".tif", ".tiff"):
        import cv2

        pixels = np.round(np.clip(encoded, 0, 1) * 65535).astype(np.uint16)
        ok, buffer = cv2.imencode(".tiff", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
        if not ok:
            raise InputError(f"cannot encode {out_path.name} as TIFF")
        return write_atomic(out_path, lambda handle: handle.write(buffer.tobytes()))
    if out_path.suffix.lower() != ".png":
        raise click.UsageError("--out must end in .png (8-bit) or .tif/.tiff (16-bit)")
    pixels = np.round(np.clip(encoded, 0, 1) * 255).astype(np.uint8)
    return write_atomic(out_path, lambda handle: Image.fromarray(pixels).save(handle, "PNG"))


def _measurement_options(command):
    """Options ``measure`` and ``compare`` share: the hair kind, the station profile, the protocol."""
    for option in reversed((
            click.option("--hair", "hair_kind", type=click.Choice(["clipped", "unclipped"]),
                         help="Trichoscopy: clipped (phototrichogram) or unclipped hair (default: detected)."),
            click.option("--station", help="Station whose calibration profile applies (with --db)."),
            click.option("--device", help="Device at the station (for its scale)."),
            click.option("--db", help="Ledger database with the station profiles."),
            click.option("--protocol", "protocol_path", type=click.Path(path_type=Path, dir_okay=False),
                         help="Protocol TOML file (default: the shipped protocol)."))):
        command = option(command)
    return command


@cli.command()
@click.argument("photo", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--mm-per-px", type=float, help="Scale of the photo in mm per pixel (default: from a card in the frame "
                                             "or the station profile).")
@click.option("--view", type=click.Choice(["trichoscopy", "global"]),
              help="Trichoscopy close-up (hairs) or global view (coverage); default: from the file name.")
@_measurement_options
@click.option("--hairs", "hairs_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Measure from this hairs file (as written by --out, corrected by a person) instead of detecting.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write an overlay PNG and (trichoscopy) the hairs as a CSV file a person can correct.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (see README: measure).")
def measure(photo: Path, mm_per_px: float | None, view: str | None, hair_kind: str | None, station: str | None,
            device: str | None, db: str | None, protocol_path: Path | None, hairs_path: Path | None,
            out_dir: Path | None, as_json: bool) -> None:
    """One photo's hair count, density, shaft widths and units, or coverage (exit 0 measured, 1 not measurable)."""
    from photostation.ledger import open_ledger
    from pipelines.measure import measure_photo

    factory = open_ledger(db, create=False) if station else None
    result = measure_photo(photo, _protocol(protocol_path), mm_per_px=mm_per_px, view=view, hair_kind=hair_kind,
                           station=station, device=device, factory=factory, hairs_file=hairs_path)
    data = result.to_json()
    if out_dir is not None:
        data["files"] = [str(p) for p in _write_measurement(photo, result, out_dir)]
    if as_json:
        _print_json(data)
    else:
        _print_measurement(photo, data)
    sys.exit(EXIT_OK if result.measurable else EXIT_FAIL)


def _print_measurement(photo: Path, data: dict) -> None:
    if not data["measurable"]:
        click.echo(f"{photo.name}: {click.style('NOT measurable', bold=True)} ({data['view']}): {data['reason']}")
        return
    scale = data["scale"]
    where = f"{data['area_cm2']:.3f} cm2" if data["area_cm2"] is not None else f"{data['area_px']} px"
    click.echo(f"{photo.name}: {data['view']}" + (f", {data['hair']} hair" if data["hair"] else "") + f", {where}"
               + (f" at {scale['mm_per_px'] * 1000:.2f} µm/px ({scale['source']})" if scale["mm_per_px"] else ""))
    if data["coverage_pct"] is not None:
        where = "of the scalp in the frame" if data["view"] == "global" else "of the field is hair"
        click.echo(f"  coverage  {data['coverage_pct']:.1f} % {where}")
    if data["hair_count"] is not None:
        density = f"{data['density_per_cm2']:.0f} hairs/cm2" if data["density_per_cm2"] is not None else ""
        click.echo(f"  hairs     {data['hair_count']} ({density}, from {data['hairs_source']})")
        if data["mean_shaft_width_um"] is not None:
            d = data["shaft_diameter"]
            click.echo(f"  shafts    mean {data['mean_shaft_width_um']:.0f} µm (median {d['median_um']:.0f}, "
                       f"variability {d['cv_pct']:.0f} %); vellus {data['vellus_pct']:.0f} %, "
                       f"terminal {data['terminal_pct']:.0f} %, thin (< 30 µm) {d['thin_pct']:.0f} %")
        units = data["units"]
        if units["1"] is not None:
            click.echo("  units     " + ", ".join(f"{units[k]:.0f} % {k}{'+' if k == '4' else ''}-hair"
                                                  for k in ("1", "2", "3", "4")))
        if data["cumulative_thickness_mm_per_cm2"] is not None:
            click.echo(f"  thickness {data['cumulative_thickness_mm_per_cm2']:.1f} mm of shaft width per cm2")
    for flag in data["flags"]:
        click.echo(f"  note: {flag}")
    for path in data.get("files", []):
        click.echo(f"  wrote {path}")


def _write_measurement(photo: Path, result, out_dir: Path) -> list[Path]:
    from PIL import Image

    from photostation.imaging import decode
    from photostation.writing import write_atomic
    from pipelines.hairs_file import hairs_csv
    from pipelines.measure import measurement_overlay

    written = []
    overlay = measurement_overlay(decode(photo), result)
    target = out_dir / f"{photo.stem}_measured.png"
    written.append(write_atomic(target, lambda h: Image.fromarray(overlay).save(h, "PNG")))
    if result.view == "trichoscopy" and result.measurable:
        text = hairs_csv(list(result.hairs)).encode()
        written.append(write_atomic(out_dir / f"{photo.stem}_hairs.csv", lambda h: h.write(text)))
    return written


@cli.command()
@click.argument("baseline", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("followup", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--mm-per-px", type=float, help="Scale of the baseline photo in mm per pixel (default: from a card "
                                             "in the frame or the station profile).")
@click.option("--view", type=click.Choice(["trichoscopy", "global"]),
              help="Trichoscopy close-up (hair density) or global view (hair coverage); default: from the file name.")
@_measurement_options
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write the registered follow-up, side-by-side, blend, flicker and hair overlays here.")
@click.option("--save", is_flag=True, help="Store the measurements on the follow-up photo in the ledger (--db).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (see README: compare).")
def compare(baseline: Path, followup: Path, mm_per_px: float | None, view: str | None, hair_kind: str | None,
            station: str | None, device: str | None, db: str | None, protocol_path: Path | None,
            out_dir: Path | None, save: bool, as_json: bool) -> None:
    """Baseline vs follow-up: register, measure density or coverage, and the change (exit 0 comparable, 1 not)."""
    from photostation.ledger import open_ledger
    from pipelines.compare import compare_pair

    protocol = _protocol(protocol_path)
    factory = open_ledger(db, create=False) if station else None
    result = compare_pair(baseline, followup, protocol, mm_per_px=mm_per_px, view=view, station=station,
                          device=device, factory=factory, hair_kind=hair_kind)
    data = result.to_json()
    if save:
        from photostation.measurements import save_comparison

        data["saved_measurements"] = save_comparison(open_ledger(db, create=False), baseline, followup, data)
    if out_dir is not None:
        data["report_files"] = [str(p) for p in _write_report(result, out_dir)]
    if as_json:
        _print_json(data)
    else:
        _print_comparison(baseline, followup, data)
    sys.exit(EXIT_OK if result.comparable else EXIT_FAIL)


def _print_comparison(baseline: Path, followup: Path, data: dict) -> None:
    verdict = "comparable" if data["comparable"] else "NOT comparable"
    click.echo(f"{baseline.name} -> {followup.name}: {click.style(verdict, bold=True)} ({data['view']})")
    reg = data["registration"]
    if reg["matrix"] is not None:
        click.echo(f"  registration: {reg['inliers']} inliers, residual {reg['residual_px']} px, "
                   f"overlap {reg['overlap_pct']:.0f} %")
    for side in ("baseline", "followup"):
        m = data[side]
        parts = []
        if m.get("density_per_cm2") is not None:
            parts.append(f"{m['density_per_cm2']:.1f} hairs/cm2 ({m['hair_count']} hairs)")
        elif m.get("hair_count") is not None:
            parts.append(f"{m['hair_count']} hairs ({m.get('hairs_per_mpx')} per megapixel)")
        if m.get("coverage_pct") is not None:
            parts.append(f"coverage {m['coverage_pct']:.1f} %")
        if m.get("mean_shaft_width_um") is not None:
            parts.append(f"shaft {m['mean_shaft_width_um']:.0f} µm, vellus {m['vellus_pct']:.0f} %")
        if parts:
            click.echo(f"  {side:9} " + "; ".join(parts))
    change = data["change"]
    if change["density_per_cm2"] is not None:
        low, high = change["ci95_density_per_cm2"]
        click.echo(f"  change    {change['density_per_cm2']:+.1f} hairs/cm2 ({change['density_pct']:+.1f} %), "
                   f"95 % interval {low:+.1f} to {high:+.1f}; matched {change['matched']}, lost {change['lost']}, "
                   f"new {change['new']}")
    if change["coverage_pct_points"] is not None:
        low, high = change["ci95_coverage_pct_points"]
        click.echo(f"  change    {change['coverage_pct_points']:+.2f} coverage points, 95 % interval "
                   f"{low:+.2f} to {high:+.2f}")
    if change["outcome"]:
        click.echo(f"  outcome   {click.style(change['outcome'].upper(), bold=True)}")
    for flag in data["flags"]:
        click.echo(f"  note: {flag}")
    for path in data.get("report_files", []):
        click.echo(f"  wrote {path}")


def _write_report(result, out_dir: Path) -> list[Path]:
    from PIL import Image

    from photostation.writing import write_atomic
    from pipelines.reports import report_images

    written = []
    for stem, image in report_images(result).items():
        if stem == "flicker":
            frames = [Image.fromarray(f) for f in image]
            target = out_dir / "flicker.gif"
            write_atomic(target, lambda h, frames=frames: frames[0].save(h, "GIF", save_all=True,
                                                                         append_images=frames[1:], duration=700, loop=0))
        else:
            target = out_dir / f"{stem}.png"
            write_atomic(target, lambda h, image=image: Image.fromarray(image).save(h, "PNG"))
        written.append(target)
    return written


@cli.command()
@click.option("--out", "out_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the card (.pdf for printing, or .png).")
@click.option("--dpi", default=600, show_default=True, help="Print resolution.")
def card(out_path: Path, dpi: int) -> None:
    """Render the PS-1 calibration card, print-ready (print at 100 % scale)."""
    from PIL import Image

    from calibration.project_card import CARD_HEIGHT_MM, CARD_WIDTH_MM, render_card
    from photostation.writing import write_atomic

    if not 150 <= dpi <= 2400:
        raise click.UsageError("--dpi must be between 150 and 2400")
    suffix = out_path.suffix.lower()
    if suffix not in (".pdf", ".png"):
        raise click.UsageError("--out must end in .pdf or .png")
    image = Image.fromarray(render_card(dpi / 25.4))
    write_atomic(out_path, lambda handle: image.save(handle, "PDF" if suffix == ".pdf" else "PNG", resolution=dpi,
                                                     dpi=(dpi, dpi)))
    click.echo(f"card written to {out_path} ({CARD_WIDTH_MM} x {CARD_HEIGHT_MM} mm at {dpi} dpi): "
               "print at 100 % scale and check the scale bar measures 50 mm")


@cli.command()
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option("--seed", default=0, show_default=True, help="Random seed (the same seed gives the same files).")
def samples(out: Path, seed: int) -> None:
    """Render the synthetic sample archive (3 patients, baseline and month 6) into OUT."""
    from photostation.synthetic.samples import generate_sample_archive

    generate_sample_archive(out, seed=seed)
    click.echo(f"sample archive written to {out}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn every error into one line and an exit code."""
    # A file name that is not UTF-8 reaches Python as lone surrogates; under a strict locale
    # printing it would be an internal error. Shown escaped instead (e.g. bad-\udcff.jpg).
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        code = cli.main(args=argv, prog_name="photostation", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_OK
    except click.UsageError as exc:
        click.echo(f"photostation: error: {exc.format_message()}", err=True)
        code = EXIT_USAGE
    except InputError as exc:
        click.echo(f"photostation: error: {exc}", err=True)
        code = EXIT_USAGE
    except click.ClickException as exc:
        click.echo(f"photostation: error: {exc.format_message()}", err=True)
        code = EXIT_USAGE
    except click.Abort:
        click.echo("photostation: aborted", err=True)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        click.echo("photostation: interrupted", err=True)
        code = 130
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        if os.environ.get("PHOTOSTATION_DEBUG"):
            traceback.print_exc()
        click.echo(f"photostation: internal error: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                   " (set PHOTOSTATION_DEBUG=1 for details)", err=True)
        code = EXIT_INTERNAL
    return code if isinstance(code, int) else EXIT_OK


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":  # python -m photostation_cli.main
    entry_point()
