"""First start of the review app on the embedded default ledger: when there is no ledger yet,
or it holds no photo, the bundled sample archive is copied beside it and ingested, so that a
new installation shows something real to look at (and says so)."""
from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from photostation.ingest import ingest_archive
from photostation.ledger import Photo, Visit, open_ledger
from photostation.protocol import Protocol

ARCHIVE_FOLDER = "photostation-archive"
"""The copy of the samples, beside the ledger file: the app may add photos to it (Capture), so
the bundled samples themselves are never written to."""


@dataclass(frozen=True)
class FirstStart:
    archive: Path
    photos: int
    patients: int


def start_with_samples(url: str, samples: Path, protocol: Protocol, *, now: dt.datetime | None = None
                       ) -> FirstStart | None:
    """Fill an absent or empty SQLite ledger with the sample archive.

    Parameters
    ----------
    url : str
        An SQLite URL (``sqlite:///path``); other databases are never filled with samples.
    samples : Path
        The bundled sample archive.
    protocol : Protocol
    now : datetime, optional

    Returns
    -------
    FirstStart or None
        None when the ledger already holds photos (nothing is done).
    """
    if not url.startswith("sqlite:///"):
        return None
    database = Path(url.removeprefix("sqlite:///")).expanduser()
    if database.is_file() and database.stat().st_size > 0:
        factory = open_ledger(url, create=False)
        with factory() as session:
            if session.scalar(select(func.count(Photo.id))):
                factory.kw["bind"].dispose()
                return None
    else:
        factory = open_ledger(url)
    archive = database.resolve().parent / ARCHIVE_FOLDER
    if not archive.exists():
        temporary = archive.with_name(archive.name + ".partial")
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.copytree(samples, temporary)
        temporary.rename(archive)  # a half-copied archive is never ingested
    report = ingest_archive(archive, factory, protocol, now=now)
    with factory() as session:
        patients = session.scalar(select(func.count(func.distinct(Visit.patient_id))))
    factory.kw["bind"].dispose()
    return FirstStart(archive, report.photos, patients)
