"""Typed results shared by every check: one :class:`Check` per rule, and a verdict."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Literal

Status = Literal["pass", "warn", "fail"]
_RANK = {"pass": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Check:
    """The outcome of one rule.

    Attributes
    ----------
    name : str
        Stable machine name of the rule, e.g. ``"timestamp.future"``.
    status : {"pass", "warn", "fail"}
    value : JSON-serialisable or None
        What was measured (with its unit in ``name`` or ``message``).
    limit : JSON-serialisable or None
        The protocol threshold it was compared with.
    message : str
        One sentence the photographer or auditor can act on.
    """

    name: str
    status: Status
    value: Any
    limit: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {key: plain(value) for key, value in asdict(self).items()}


def plain(value: Any) -> Any:
    """Plain JSON types for a value that may hold NumPy scalars or arrays."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe of ``statuses`` (``"pass"`` when empty)."""
    result: Status = "pass"
    for status in statuses:
        if _RANK[status] > _RANK[result]:
            result = status
    return result


def verdict(checks: Iterable[Check]) -> Status:
    """Overall verdict of a list of checks: the worst status."""
    return worst(c.status for c in checks)


def grade(value: float, warn: float, fail: float, *, lower_is_worse: bool = False) -> Status:
    """Status of a measurement against a warn and a fail limit.

    With ``lower_is_worse`` the value must stay above the limits (e.g. a sharpness ratio),
    otherwise below them (e.g. an exposure difference, compared as given).
    """
    if lower_is_worse:
        return "fail" if value < fail else "warn" if value < warn else "pass"
    return "fail" if value > fail else "warn" if value > warn else "pass"
