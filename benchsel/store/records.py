"""What the store holds: a trial's record, a run's record, and how a record maps to rows."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from benchsel.formatting import trial_label


def metric_unit(name: str) -> str:
    """The unit of a metric, read from its name's suffix (after ``_b<batch>`` / ``_fp16``)."""
    name = re.sub(r"(_b\d+|_fp16|_fp32)+$", "", name)
    if name.endswith("_per_s"):
        return name.split("_per_s")[0].rsplit("_", 1)[-1] + "/s"
    for suffix, unit in (
        ("_ms", "ms"),
        ("_mib", "MiB"),
        ("_gib", "GiB"),
        ("_usd", "USD"),
        ("_cpu_hours", "CPU-hours"),
        ("_gpu_hours", "GPU-hours"),
        ("_hours", "h"),
        ("_s", "s"),
        ("gflops", "GFLOPs"),
        ("params_m", "M"),
    ):
        if name.endswith(suffix):
            return unit
    if name.startswith(("fps", "throughput_fps")):
        return "frames/s"
    if name.endswith(("_images", "_units", "_iters")):
        return "count"
    return "fraction"


@dataclass
class TrialRecord:
    """Everything stored about one finished trial."""

    hash: str
    suite_name: str
    arch_id: str
    family: str
    task: str
    variant: str
    loss: str | None
    data_fraction: float
    seed: int
    spec: dict[str, Any]
    status: str
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    wall_s: float | None = None
    log_path: str | None = None
    checkpoint_path: str | None = None
    conditions: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    eval_states: Mapping[str, bytes] = field(default_factory=dict)  # evaluation -> npz bytes
    val_predictions: bytes | None = None  # ValPredictions.to_bytes()

    @property
    def option(self) -> str:
        """The candidate's name: the suite's ``name`` for it, else ``rtmdet-tiny [r18-light]``."""
        return self.spec.get("name") or trial_label(self.arch_id, self.variant, self.loss)

    @property
    def label(self) -> str:
        """Short human name: ``rtmdet-tiny [r18-light, dice_ce] @0.5 #1``."""
        name = self.spec.get("name")
        if not name:
            return trial_label(self.arch_id, self.variant, self.loss, self.data_fraction, self.seed)
        name += f" @{self.data_fraction:g}" if self.data_fraction != 1.0 else ""
        return name + (f" #{self.seed}" if self.seed else "")


# TrialRecord fields stored as JSON text in a ``<name>_json`` column; metrics have their table.
_JSON_FIELDS = ("spec", "conditions", "environment", "curves")
_OWN_TABLES = ("metrics", "eval_states", "val_predictions")


def _trial_row(record: TrialRecord) -> dict[str, Any]:
    """The ``trials`` row of a record: one column per field, JSON for the structured ones."""
    row: dict[str, Any] = {}
    for f in fields(TrialRecord):
        value = getattr(record, f.name)
        if f.name in _OWN_TABLES:
            continue
        if f.name in _JSON_FIELDS:
            row[f"{f.name}_json"] = json.dumps(value, default=str)
        else:
            row[f.name] = value
    return row


def _trial_from_row(
    row: dict[str, Any],
    metrics: Mapping[str, float | None],
    states: Mapping[str, bytes],
    predictions: bytes | None = None,
) -> TrialRecord:
    values: dict[str, Any] = {}
    for f in fields(TrialRecord):
        if f.name == "metrics":
            values["metrics"] = metrics
        elif f.name == "eval_states":
            values["eval_states"] = states
        elif f.name == "val_predictions":
            values["val_predictions"] = predictions
        elif f.name in _JSON_FIELDS:
            values[f.name] = json.loads(row[f"{f.name}_json"] or "{}")
        else:
            values[f.name] = row[f.name]
    return TrialRecord(**values)


@dataclass(frozen=True)
class RunRecord:
    """One ``benchsel run`` as stored: the suite as it ran, its environment and data set."""

    suite_name: str
    suite: dict[str, Any]
    started: float | None
    finished: float | None
    environment: dict[str, Any]
    dataset: dict[str, Any]  # the data set's summary, plus notes the run added (e.g. ``race``)
