"""Station calibration profiles in the ledger: saving them and choosing the one that applies to
a photo (by station, device and capture date)."""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from calibration.flatfield import FlatField
from calibration.tone_curve import ToneCurve
from photostation.errors import InputError
from photostation.ledger import StationProfile


@dataclass(frozen=True)
class EffectiveProfile:
    """The calibration that applies to one photo, assembled part by part."""

    station: str
    on_date: dt.date
    ccm: np.ndarray | None
    ccm_method: str | None
    ccm_profile_id: int | None
    ccm_valid_from: dt.date | None
    illuminant_cct_k: float | None
    mm_per_px: float | None
    scale_profile_id: int | None
    flat_field: FlatField | None
    flat_profile_id: int | None
    tone_curve: ToneCurve | None = None
    """The camera's tone curve measured with the colour correction (None: sRGB decoding)."""

    @property
    def empty(self) -> bool:
        return self.ccm is None and self.mm_per_px is None and self.flat_field is None


def _to_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, np.float32), allow_pickle=False)
    return buffer.getvalue()


def _from_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def _ccm_to_json(ccm: np.ndarray, tone_curve: ToneCurve | None):
    # A bare matrix (a list) as before issue 18, so that older readers still load it; with a
    # tone curve, both in one object under the same column.
    matrix = np.asarray(ccm).round(8).tolist()
    return matrix if tone_curve is None else {"matrix": matrix, "tone_curve": tone_curve.to_json()}


def _ccm_from_json(value) -> tuple[np.ndarray, ToneCurve | None]:
    if isinstance(value, dict):
        curve = value.get("tone_curve")
        return np.array(value["matrix"], float), ToneCurve.from_json(curve) if curve else None
    return np.array(value, float), None


def save_profile(factory: sessionmaker[Session], *, station: str, valid_from: dt.date, source: str,
                 device: str | None = None, card_type: str | None = None, ccm: np.ndarray | None = None,
                 ccm_method: str | None = None, delta_e00_after_mean: float | None = None,
                 illuminant_cct_k: float | None = None, mm_per_px: float | None = None,
                 flat_field: FlatField | None = None, source_digest: str | None = None,
                 tone_curve: ToneCurve | None = None) -> int:
    """Store a station profile; return its id. A photo already used for this station's
    profile (same fingerprint and source) is not stored twice."""
    station = station.strip()
    if not station or len(station) > 200:
        raise InputError("--station: give the station's name (1-200 characters)")
    with factory.begin() as session:
        if source_digest:
            existing = session.scalar(select(StationProfile).where(
                StationProfile.station == station, StationProfile.source == source,
                StationProfile.source_digest == source_digest))
            if existing is not None:
                return existing.id
        row = StationProfile(station=station, device=device, valid_from=valid_from, source=source,
                             card_type=card_type, ccm=_ccm_to_json(ccm, tone_curve) if ccm is not None else None,
                             ccm_method=ccm_method, delta_e00_after_mean=delta_e00_after_mean,
                             illuminant_cct_k=illuminant_cct_k, mm_per_px=mm_per_px,
                             flat_field=_to_npy(flat_field.gain) if flat_field is not None else None,
                             flat_field_ratio=flat_field.ratio if flat_field is not None else None,
                             source_digest=source_digest)
        session.add(row)
        session.flush()
        return row.id


def select_profile(factory: sessionmaker[Session], station: str, on_date: dt.date,
                   device: str | None = None) -> EffectiveProfile:
    """The calibration valid for a photo of ``station`` captured on ``on_date``.

    Each part (colour correction, scale, flat-field) comes from the newest profile with
    ``valid_from <= on_date`` that has it; for the scale, a profile of the same ``device``
    is preferred when a device is given.
    """
    with factory() as session:
        rows = list(session.scalars(select(StationProfile).where(
            StationProfile.station == station, StationProfile.valid_from <= on_date)
            .order_by(StationProfile.valid_from.desc(), StationProfile.id.desc())))
    ccm_row = next((r for r in rows if r.ccm is not None), None)
    scale_rows = [r for r in rows if r.mm_per_px is not None]
    scale_row = next((r for r in scale_rows if device and r.device == device), None) or \
        next((r for r in scale_rows if not device or r.device in (None, device)), None)
    flat_row = next((r for r in rows if r.flat_field is not None), None)
    ccm, tone_curve = _ccm_from_json(ccm_row.ccm) if ccm_row else (None, None)
    return EffectiveProfile(
        station=station, on_date=on_date,
        ccm=ccm,
        ccm_method=ccm_row.ccm_method if ccm_row else None,
        ccm_profile_id=ccm_row.id if ccm_row else None,
        ccm_valid_from=ccm_row.valid_from if ccm_row else None,
        illuminant_cct_k=ccm_row.illuminant_cct_k if ccm_row else None,
        mm_per_px=scale_row.mm_per_px if scale_row else None,
        scale_profile_id=scale_row.id if scale_row else None,
        flat_field=FlatField(_from_npy(flat_row.flat_field), flat_row.flat_field_ratio) if flat_row else None,
        flat_profile_id=flat_row.id if flat_row else None,
        tone_curve=tone_curve,
    )


def list_profiles(factory: sessionmaker[Session], station: str | None = None) -> list[StationProfile]:
    with factory() as session:
        query = select(StationProfile).order_by(StationProfile.station, StationProfile.valid_from)
        if station:
            query = query.where(StationProfile.station == station)
        return list(session.scalars(query))
