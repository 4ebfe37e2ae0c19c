"""One policy for the parts of a trial that may fail without failing it: the PyTorch model
scored at the deployment size (``deploy_accuracy``), test-time augmentation (``tta``) and ONNX
Runtime (``onnxruntime``).

:func:`guarded` runs one part. A failure keeps the trial ok and is stored, as one
:class:`MeasurementFailure`, in the part's conditions (``conditions[part]["failure"]``) and in
the trial's list (``conditions["measurement_failures"]``). Its kind is ``unsupported`` when the
exception says it is a documented limit (an exception with ``unsupported = True``: mmcv's
compiled RoIAlign or deformable attention in an ONNX export, instance or panoptic TTA that
OpenMMLab lacks), else ``error``: a bug, a crashed session, anything unforeseen, kept with its
exception type, message and where it was raised, so that it is never read as a limit.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

T = TypeVar("T")
Kind = Literal["unsupported", "error"]
FAILURES_KEY = "measurement_failures"
# Where a part keeps its one-line reason, which older readers and results stored before the
# failure record have; an error's reason starts with the part's "... failed".
_REASON_KEYS = {"tta": "unavailable", "onnxruntime": "export_error"}
_FAILED = {"tta": "TTA failed", "onnxruntime": "ONNX Runtime failed"}
_MESSAGE_CHARS = 2000
_TRACEBACK_FRAMES = 6


@dataclass(frozen=True)
class MeasurementFailure:
    """A part of a trial that could not be measured, and why."""

    part: str  # "deploy_accuracy", "tta" or "onnxruntime"
    kind: Kind
    type: str  # the exception's class name
    message: str
    where: str  # the innermost frame: "benchsel/adapters/serve/onnx_runtime.py:256 in __init__"
    traceback: str = ""  # the last frames, for an error

    @classmethod
    def of(cls, part: str, exc: BaseException) -> MeasurementFailure:
        """The failure ``exc`` makes of ``part``; its kind from ``exc.unsupported``."""
        kind: Kind = "unsupported" if getattr(exc, "unsupported", False) is True else "error"
        frames = traceback.extract_tb(exc.__traceback__)
        last = frames[-1] if frames else None
        where = f"{_short(last.filename)}:{last.lineno} in {last.name}" if last else "?"
        tail = "" if kind == "unsupported" else _tail(exc)
        return cls(part, kind, type(exc).__name__, str(exc)[:_MESSAGE_CHARS], where, tail)

    @classmethod
    def from_dict(cls, part: str, record: Mapping[str, Any]) -> MeasurementFailure:
        kind: Kind = "unsupported" if record.get("kind") == "unsupported" else "error"
        return cls(
            part,
            kind,
            str(record.get("type", "")),
            str(record.get("message", "")),
            str(record.get("where", "")),
            str(record.get("traceback", "")),
        )

    @property
    def unsupported(self) -> bool:
        return self.kind == "unsupported"

    def summary(self) -> str:
        """One line: ``RuntimeError: boom`` (an error), or the limit's own message."""
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        if self.unsupported or not self.type:
            return first
        return f"{self.type}: {first}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def guarded(part: str, conditions: dict[str, Any], measure: Callable[[], T]) -> T | None:
    """``measure()``, or None when it raises: the failure is then recorded in ``conditions``
    (the trial's) and the trial goes on. ``KeyboardInterrupt`` and the like are not caught."""
    try:
        return measure()
    except Exception as exc:
        record_failure(conditions, MeasurementFailure.of(part, exc))
        return None


def record_failure(conditions: dict[str, Any], failure: MeasurementFailure) -> None:
    """Store ``failure`` under its part (keeping what the part stored before it failed) and in
    the trial's list; the part's one-line reason too where older readers look for one."""
    record = failure.to_dict()
    part: dict[str, Any] = dict(conditions.get(failure.part) or {})
    part["failure"] = record
    if failure.part in _REASON_KEYS:
        reason = f"{_FAILED[failure.part]}: {failure.summary()}"
        part[_REASON_KEYS[failure.part]] = failure.message if failure.unsupported else reason
    conditions[failure.part] = part
    conditions.setdefault(FAILURES_KEY, []).append(record)


def failure_of(conditions: Mapping[str, Any], part: str) -> MeasurementFailure | None:
    """The stored failure of ``part`` in a trial's ``conditions`` (None: it did not fail or
    did not run). Results stored before the record existed are read from the one-line reason:
    an error was the one that said so, anything else a limit."""
    stored = conditions.get(part) or {}
    if not isinstance(stored, Mapping):
        return None
    if isinstance(stored.get("failure"), Mapping):
        return MeasurementFailure.from_dict(part, stored["failure"])
    if part not in _REASON_KEYS:
        return None
    text = str(stored.get(_REASON_KEYS[part]) or "")
    if not text:
        return None
    failed = f"{_FAILED[part]}:"
    if text.startswith(failed):
        return MeasurementFailure(part, "error", "", text[len(failed) :].strip(), "")
    return MeasurementFailure(part, "unsupported", "", text, "")


def failures_of(conditions: Mapping[str, Any]) -> list[MeasurementFailure]:
    """Every failure a trial's ``conditions`` list (older results: read part by part)."""
    listed = conditions.get(FAILURES_KEY)
    if isinstance(listed, list):
        return [MeasurementFailure.from_dict(str(r.get("part", "?")), r) for r in listed]
    found = (failure_of(conditions, part) for part in ("deploy_accuracy", *_REASON_KEYS))
    return [f for f in found if f is not None]


def runtime_disagreement(deployed: Mapping[str, Any]) -> str | None:
    """The stored disagreement of a deployed runtime's accuracy with PyTorch's (None: it
    agrees or was not checked): the boolean ``agrees``, or, in older results, the text."""
    agreement = str(deployed.get("agreement") or "")
    if "agrees" in deployed:
        return (agreement or "disagrees") if deployed["agrees"] is False else None
    return agreement if agreement.strip().upper().startswith("DISAGREE") else None


def _tail(exc: BaseException) -> str:
    lines = traceback.format_exception(exc, limit=-_TRACEBACK_FRAMES, chain=False)
    return "".join(lines).strip()[-4 * _MESSAGE_CHARS :]


def _short(filename: str) -> str:
    """A frame's file from its package down (``benchsel/...``, ``mmdet/...``)."""
    parts = Path(filename).parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in ("site-packages", "dist-packages"):
            return "/".join(parts[i + 1 :])
    if "benchsel" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("benchsel") :])
    return filename
