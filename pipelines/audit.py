"""The clinic audit: every photo checked, every follow-up compared with its baseline, all of it
stored in the ledger; drift per station and operator; the month-6 report.

Work and writes are split: reading, checking and comparing photos (the slow part) runs in
worker processes, on this machine (:class:`LocalRunner`) or on a Dask distributed cluster
(:class:`DaskRunner`); every result is written here, one transaction per photo or pair, as it
arrives. So an audit killed at any point has written whole results only, and the next run
does what is missing:

- a photo whose bytes and rules (protocol and photostation version,
  :func:`rules_fingerprint`) are those of its last check is not read again;
- a pair is compared again only when either photo's fingerprint or the rules changed;
- rows are keyed (one comparison per follow-up photo, one check per name) and written with
  an upsert, so two audits on one ledger never double a row.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from photostation.archive import PhotoEntry, file_digest, scan_archive
from photostation.errors import InputError
from photostation.ingest import IngestReport, ingest_archive
from photostation.ledger import (CheckRecord, ComparisonHairs, ComparisonRecord, LedgerInfo, Patient, Photo,
                                 PhotoState, store_checks)
from photostation.measurements import store_comparison
from photostation.protocol import Protocol
from photostation.results import Check, worst
from photostation.shot import view_kind
from pipelines.audit_records import json_safe

THUMBNAIL_SIDE_PX = 320


def rules_fingerprint(protocol: Protocol) -> str:
    """Hash of the protocol's settings and photostation's version: a stored result made with
    other rules or another release is recomputed."""
    try:
        release = version("photostation")
    except PackageNotFoundError:  # a source checkout that is not installed
        release = "source"
    text = json.dumps(protocol.raw, sort_keys=True, default=str) + release
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# -- where the work runs -------------------------------------------------------------------

def _safely(function: Callable[..., Any], *arguments: Any) -> tuple[bool, Any]:
    """Run one job; an exception becomes a one-line error instead of ending the audit."""
    try:
        return True, function(*arguments)
    except InputError as exc:
        return False, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad photo must not abort the whole archive
        return False, f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else 'no message'}"


class SerialRunner:
    """Everything in this process, one job after another."""

    workers = 1

    def __call__(self, function: Callable[..., Any], arguments: list[tuple[Any, ...]],
                 keys: list[Any]) -> Iterator[tuple[Any, tuple[bool, Any]]]:
        for key, args in zip(keys, arguments):
            yield key, _safely(function, *args)

    def close(self) -> None:
        pass


def _one_thread() -> None:
    # N worker processes each running OpenCV on every core would fight over the cores.
    cv2.setNumThreads(1)


class LocalRunner:
    """A pool of ``workers`` processes on this machine (spawned: no state is inherited)."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_one_thread)

    def __call__(self, function: Callable[..., Any], arguments: list[tuple[Any, ...]],
                 keys: list[Any]) -> Iterator[tuple[Any, tuple[bool, Any]]]:
        # A bounded number in flight keeps memory flat however large the archive.
        pending: dict[Any, Any] = {}
        todo = iter(zip(keys, arguments))
        for key, args in todo:
            pending[self._pool.submit(_safely, function, *args)] = key
            if len(pending) >= 2 * self.workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                key = pending.pop(future)
                yield key, future.result()
                nxt = next(todo, None)
                if nxt is not None:
                    pending[self._pool.submit(_safely, function, *nxt[1])] = nxt[0]

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class DaskRunner:
    """The same jobs on a Dask distributed cluster (``--scheduler tcp://host:8786``). The
    workers need photostation installed and the archive at the same path (a shared folder);
    results come back here and are written by this process only."""

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - a dependency of the package
            raise InputError("--scheduler needs Dask distributed: pip install 'dask[distributed]'") from None
        try:
            self._client = Client(address, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"--scheduler: cannot reach the Dask scheduler at {address} "
                             f"({exc.__class__.__name__})") from None
        self.workers = max(1, sum(self._client.nthreads().values()))

    def __call__(self, function: Callable[..., Any], arguments: list[tuple[Any, ...]],
                 keys: list[Any]) -> Iterator[tuple[Any, tuple[bool, Any]]]:
        from distributed import as_completed

        futures = {self._client.submit(_safely, function, *args, pure=False): key
                   for key, args in zip(keys, arguments)}
        for future in as_completed(futures):
            yield futures[future], future.result()
            future.release()

    def close(self) -> None:
        self._client.close()


def make_runner(workers: int | None = None, scheduler: str | None = None):
    """Where the audit's jobs run: a Dask cluster when ``scheduler`` is given, else ``workers``
    local processes (default: the machine's cores), or this process alone for 1."""
    if scheduler:
        return DaskRunner(scheduler)
    count = workers or (multiprocessing.cpu_count() or 1)
    if count < 1:
        raise InputError("--workers must be at least 1")
    return SerialRunner() if count == 1 else LocalRunner(count)


# -- the jobs -------------------------------------------------------------------------------

def _thumbnail(linear: np.ndarray | None) -> bytes | None:
    if linear is None:
        return None
    from pipelines.reports import _srgb8

    rgb = _srgb8(linear)
    h, w = rgb.shape[:2]
    factor = THUMBNAIL_SIDE_PX / max(h, w)
    if factor < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return bytes(data) if ok else None


def compare_job(baseline: str, followup: str, protocol: Protocol, station: str | None, db_url: str | None,
                now: dt.datetime, mm_per_px: float | None = None) -> dict[str, Any]:
    """One follow-up against its baseline (:func:`pipelines.compare.compare_pair`) as plain
    data: the ``compare --json`` object without the per-hair lists, the per-hair lists apart
    (``hairs``), and two thumbnails."""
    from photostation.ledger import open_ledger
    from pipelines.compare import compare_pair

    kind = "trichoscopy" if view_kind(Path(baseline).stem, protocol) == "trichoscopy" else "global"
    factory = open_ledger(db_url, create=False) if station and db_url else None
    result = compare_pair(baseline, followup, protocol, station=station, factory=factory, now=now, mm_per_px=mm_per_px,
                          fallback_mm_per_px=protocol.audit.fallback_mm_per_px(kind) if protocol.audit else None)
    if factory is not None:
        factory.kw["bind"].dispose()
    data = result.to_json()
    hairs = {"baseline": data["baseline"].pop("hairs", []), "followup": data["followup"].pop("hairs", [])}
    return {"result": data, "hairs": hairs, "thumbnail_baseline": _thumbnail(result.images.get("baseline")),
            "thumbnail_followup": _thumbnail(result.images.get("registered_followup"))}


# -- the audit ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PairJob:
    followup_id: int
    baseline_id: int
    baseline_path: str
    followup_path: str
    baseline_digest: str
    followup_digest: str
    station: str | None


@dataclass(frozen=True)
class AuditRun:
    """What one audit run did."""

    ingest: IngestReport
    pairs: int
    """Follow-up photos with a baseline photo of the same view."""
    compared: int
    """Pairs compared in this run (the rest were stored and unchanged)."""
    failed_pairs: tuple[tuple[str, str], ...]
    """``(follow-up photo, why the comparison could not run)``."""
    workers: int


def _pending_pairs(factory: sessionmaker[Session], root: Path, fingerprint: str,
                   base_label: str) -> tuple[int, list[PairJob]]:
    """Every follow-up photo with a readable, unmodified baseline photo of its view (the
    ``base_label`` visit); those whose stored comparison is missing or stale are returned to
    be compared."""
    jobs, total = [], 0
    with factory() as session:
        for patient in session.scalars(select(Patient).order_by(Patient.code)):
            visits = {v.label: v for v in patient.visits}
            labels = sorted(visits)
            if base_label not in visits:
                continue
            base_photos = {p.view: p for p in visits[base_label].photos}
            for label in labels:
                if label == base_label:
                    continue
                for photo in sorted(visits[label].photos, key=lambda p: p.view):
                    base = base_photos.get(photo.view)
                    if base is None or not base.metadata_json or not photo.metadata_json:
                        continue
                    if _modified(session, base) or _modified(session, photo):
                        continue
                    total += 1
                    stored = session.scalar(select(ComparisonRecord).where(
                        ComparisonRecord.followup_photo_id == photo.id))
                    if (stored is not None and stored.baseline_photo_id == base.id
                            and stored.baseline_digest == base.digest and stored.followup_digest == photo.digest
                            and stored.rules_fingerprint == fingerprint):
                        continue
                    jobs.append(PairJob(photo.id, base.id, str(root / base.relative_path),
                                        str(root / photo.relative_path), base.digest, photo.digest, photo.station))
    return total, jobs


def _modified(session: Session, photo: Photo) -> bool:
    return session.scalar(select(CheckRecord.id).where(
        CheckRecord.photo_id == photo.id, CheckRecord.scope == "integrity",
        CheckRecord.status == "fail")) is not None


def _upsert_comparison(session: Session, values: dict[str, Any], table: type = ComparisonRecord) -> None:
    """Insert or replace the comparison (or its hair lists) of one follow-up photo, safely
    against a second audit writing the same row (the database resolves the race, not this
    process)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - other databases: read, then write
        row = session.scalar(select(table).where(table.followup_photo_id == values["followup_photo_id"]))
        if row is None:
            session.add(table(**values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        return
    statement = insert(table).values(**values)
    update = {k: statement.excluded[k] for k in values if k != "followup_photo_id"}
    session.execute(statement.on_conflict_do_update(index_elements=["followup_photo_id"], set_=update))


def _store_pair(session: Session, job: PairJob, ok: bool, payload: Any, fingerprint: str) -> None:
    base, follow = session.get(Photo, job.baseline_id), session.get(Photo, job.followup_id)
    if base is None or follow is None or base.digest != job.baseline_digest or follow.digest != job.followup_digest:
        return  # the archive changed under us: the next run compares the new photos
    values: dict[str, Any] = dict(followup_photo_id=follow.id, baseline_photo_id=base.id,
                                  baseline_digest=base.digest, followup_digest=follow.digest,
                                  rules_fingerprint=fingerprint, computed_at=dt.datetime.now(dt.timezone.utc)
                                  .replace(tzinfo=None))
    if not ok:
        values |= dict(kind=None, comparable=False, outcome=None, error=str(payload), result=None,
                       thumbnail_baseline=None, thumbnail_followup=None)
        checks = [Check("compare.run", "fail", None, None, f"the comparison could not run: {payload}")]
    else:
        data = payload["result"]
        values |= dict(kind=data["view"], comparable=bool(data["comparable"]), outcome=data["change"]["outcome"],
                       error=None, result=json_safe(data), thumbnail_baseline=payload["thumbnail_baseline"],
                       thumbnail_followup=payload["thumbnail_followup"])
        checks = [Check(c["name"], c["status"], c.get("value"), c.get("limit"), c["message"])
                  for c in data["checks"]]
        store_comparison(session, base, follow, data)
    _upsert_comparison(session, values)
    hairs = payload.get("hairs") if ok else None
    _upsert_comparison(session, dict(followup_photo_id=follow.id, baseline_digest=base.digest,
                                     followup_digest=follow.digest, baseline=json_safe((hairs or {}).get("baseline", [])),
                                     followup=json_safe((hairs or {}).get("followup", []))), ComparisonHairs)
    store_checks(session, checks, "compare", photo_id=follow.id)
    session.flush()
    statuses = session.scalars(select(CheckRecord.status).where(CheckRecord.photo_id == follow.id))
    follow.verdict = worst(statuses)


def _skip_checked(factory: sessionmaker[Session], fingerprint: str, algorithm: str) -> Callable[[PhotoEntry], bool]:
    """``skip(entry)``: True when the photo's bytes still hash to what was checked with these
    rules (hashing is fast beside decoding and checking)."""
    with factory() as session:
        known = {path: (digest, state) for path, digest, state in session.execute(
            select(Photo.relative_path, Photo.digest, PhotoState.rules_fingerprint)
            .join(PhotoState, PhotoState.photo_id == Photo.id))}

    def skip(entry: PhotoEntry) -> bool:
        stored = known.get(entry.relative_path)
        if stored is None or stored[1] != fingerprint:
            return False
        return file_digest(entry.path, algorithm) == stored[0]
    return skip


def _remember_checked(factory: sessionmaker[Session], fingerprint: str, paths: Iterable[str]) -> None:
    with factory.begin() as session:
        for photo in session.scalars(select(Photo).where(Photo.relative_path.in_(list(paths)))):
            state = session.get(PhotoState, photo.id)
            if state is None:
                session.add(PhotoState(photo_id=photo.id, digest=photo.digest, rules_fingerprint=fingerprint))
            else:
                state.digest, state.rules_fingerprint = photo.digest, fingerprint


def run_audit(archive: str | Path, factory: sessionmaker[Session], protocol: Protocol, *, db_url: str | None,
              runner=None, now: dt.datetime | None = None,
              on_progress: Callable[[str, int, int], None] | None = None) -> AuditRun:
    """Ingest and check every photo of ``archive``, then compare every follow-up photo with
    the baseline photo of its view; store everything in the ledger.

    Parameters
    ----------
    archive : str or Path
        Laid out as ``<patient>/<visit>/<view>.<ext>`` (see ``photostation ingest``).
    factory : sessionmaker
        The ledger (:func:`photostation.ledger.open_ledger`).
    protocol : Protocol
    db_url : str, optional
        The ledger's URL, for workers that read station profiles.
    runner : optional
        From :func:`make_runner` (default: this process alone).
    now : datetime, optional
        For the timestamp rules.
    on_progress : callable, optional
        ``on_progress(stage, done, total)`` after each photo (``"photos"``) and pair (``"pairs"``).

    Returns
    -------
    AuditRun
    """
    runner = runner or SerialRunner()
    now = now or dt.datetime.now(dt.timezone.utc)
    root = Path(archive).resolve()
    fingerprint = rules_fingerprint(protocol)
    entries = scan_archive(root, protocol).photos
    total_photos = len(entries)
    done = {"photos": 0}

    def photo_done(_entry: PhotoEntry) -> None:
        done["photos"] += 1
        if on_progress:
            on_progress("photos", done["photos"], total_photos)

    # Each write that a second audit may race is retried: the second try finds the row.
    report = _retrying(lambda: ingest_archive(root, factory, protocol, now=now, on_photo=photo_done,
                                              skip=_skip_checked(factory, fingerprint, protocol.hash_algorithm),
                                              run=runner))
    checked = [e.relative_path for e in entries if e.relative_path not in report.changed_bytes]
    _retrying(lambda: _remember_checked(factory, fingerprint, checked))

    total, jobs = _pending_pairs(factory, root, fingerprint, protocol.baseline_label)
    db = factory.kw["bind"].url.render_as_string(hide_password=False)
    arguments = [(job.baseline_path, job.followup_path, protocol, job.station, db_url and db, now) for job in jobs]
    failed: list[tuple[str, str]] = []
    for count, (job, (ok, payload)) in enumerate(runner(compare_job, arguments, jobs), start=1):
        if not ok:
            payload = _archive_relative(str(payload), root)
        def write(job=job, ok=ok, payload=payload) -> None:
            with factory.begin() as session:
                _store_pair(session, job, ok, payload, fingerprint)
        _retrying(write)
        if not ok:
            failed.append((Path(job.followup_path).relative_to(root).as_posix(), str(payload)))
        if on_progress:
            on_progress("pairs", count, len(jobs))
    return AuditRun(report, total, len(jobs), tuple(failed), runner.workers)


def compare_and_store(factory: sessionmaker[Session], baseline_id: int, followup_id: int, protocol: Protocol, *,
                      mm_per_px: float | None = None, db_url: str | None = None,
                      now: dt.datetime | None = None) -> tuple[bool, Any]:
    """Compare one stored pair now (the review app's "Compare") and store it as the audit
    does; returns ``(ok, compare_job's result or the error text)``. InputError when a photo is
    not in the ledger or the ledger holds no archive."""
    now = now or dt.datetime.now(dt.timezone.utc)
    with factory() as session:
        info = session.get(LedgerInfo, "archive_root")
        base, follow = session.get(Photo, baseline_id), session.get(Photo, followup_id)
        if info is None or base is None or follow is None:
            raise InputError("the pair is not in the ledger: ingest the archive first")
        root = Path(info.value)
        if mm_per_px is not None:  # refused before anything is computed or stored
            protocol.scale.check("trichoscopy" if view_kind(follow.view, protocol) == "trichoscopy" else "global",
                                 mm_per_px)
        job = PairJob(follow.id, base.id, str(root / base.relative_path), str(root / follow.relative_path),
                      base.digest, follow.digest, follow.station)
    ok, payload = _safely(compare_job, job.baseline_path, job.followup_path, protocol, job.station, db_url, now,
                          mm_per_px)
    if not ok:
        payload = _archive_relative(str(payload), root)

    def write() -> None:
        with factory.begin() as session:
            _store_pair(session, job, ok, payload, rules_fingerprint(protocol))
    _retrying(write)
    return ok, payload


def _archive_relative(text: str, root: Path) -> str:
    """An error's text with photos named by their path in the archive (``P001/month-6/vertex.jpg``),
    not by the server's absolute path: it goes into the ledger, the report and the output."""
    for prefix in {str(root), str(Path(root).resolve())}:
        text = text.replace(prefix.rstrip("/\\") + os.sep, "")
    return text


def _retrying(step: Callable[[], Any], attempts: int = 5) -> Any:
    """Run a transaction again when a concurrent audit inserted the same key first: the second
    try finds the row and updates it."""
    for attempt in range(attempts):
        try:
            return step()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    return None


def photo_time(photo: Photo) -> dt.datetime | None:
    """Capture time of a photo (naive UTC when the camera gave an offset), else None."""
    value = photo.captured_at
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def lightness_to_ev(lightness: float | None) -> float | None:
    """CIE L* of the scalp highlights as exposure in EV (log2 of relative luminance Y, CIE
    1976: Y = ((L* + 16) / 116)^3 above L* 8): one EV is a doubling of the light."""
    if lightness is None or not math.isfinite(lightness) or lightness <= 8:
        return None
    return math.log2(((lightness + 16.0) / 116.0) ** 3)

