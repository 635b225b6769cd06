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
@click.argument("archive", type=click.Path(path_type=Path, file_okay=False))
@click.option("--db", help="Ledger database: SQLAlchemy URL or SQLite file "
                           "(default: $PHOTOSTATION_DB or sqlite:///photostation.db).")
@click.option("--protocol", "protocol_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Protocol TOML file (default: the shipped protocol).")
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
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option("--seed", default=0, show_default=True, help="Random seed (the same seed gives the same files).")
def samples(out: Path, seed: int) -> None:
    """Render the synthetic sample archive (3 patients, baseline and month 6) into OUT."""
    from photostation.synthetic.samples import generate_sample_archive

    generate_sample_archive(out, seed=seed)
    click.echo(f"sample archive written to {out}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn every error into one line and an exit code."""
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
