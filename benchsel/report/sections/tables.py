"""The report's trial tables: every trial's results (one row per trial, sortable) and the
conditions each ok trial was measured under, with the measurements that failed."""

from __future__ import annotations

from typing import Any

from benchsel.formatting import finite_or_none as _num
from benchsel.report.reading import PART_NAMES, magnitude_decimals
from benchsel.store import TrialRecord
from benchsel.store.failures import failures_of
from benchsel.tasks import PRIMARY_METRIC

TABLE_COLUMNS = [
    ("task", "task", "text"),
    ("status", "status", "text"),
    ("accuracy", "accuracy", "num"),
    ("accuracy_ci_low", "95% low", "num"),
    ("accuracy_ci_high", "95% high", "num"),
    ("metric", "metric", "text"),
    ("fps", "fps (b1)", "num"),
    ("latency_e2e_p50_ms", "e2e p50 ms", "num"),
    ("latency_forward_p50_ms", "forward p50 ms", "num"),
    ("gflops", "GFLOPs", "num"),
    ("params_m", "params M", "num"),
    ("infer_cpu_mem_increase_mib", "infer CPU mem +MiB", "num"),
    ("infer_gpu_reserved_peak_gib", "infer GPU GiB", "num"),
    ("train_images_per_s", "train img/s", "num"),
    ("train_full_schedule_cpu_hours", "full train CPU-h", "num"),
    ("train_full_schedule_gpu_hours", "full train GPU-h", "num"),
    ("label_cost_usd", "labels $", "num"),
    ("labelled_images", "labelled images", "num"),
]


def result_row(t: TrialRecord) -> dict[str, Any]:
    cells = []
    for key, _title, kind in TABLE_COLUMNS:
        if key == "task":
            value: Any = t.task
        elif key == "status":
            value = t.status
        elif key == "metric":
            value = PRIMARY_METRIC.get(t.task, "")
        else:
            value = t.metrics.get(key)
        sort = value if kind == "text" else (value if value is not None else "")
        cells.append(
            {
                "text": magnitude_decimals(value) if kind == "num" else str(value),
                "sort": sort,
                "kind": kind,
            }
        )
    return {"label": t.label, "cells": cells, "status": t.status}


def conditions_rows(trials: list[TrialRecord]) -> list[dict[str, Any]]:
    """One row per ok trial: device, input size, precision, batches, threads, timer, memory,
    training settings and the notes of what failed."""
    conditions = []
    for t in trials:
        if t.status != "ok":
            continue
        speed = (t.conditions.get("speed") or [{}])[0]
        training = t.conditions.get("training") or {}
        conditions.append(
            {
                "label": t.label,
                "device": speed.get("device", t.conditions.get("device")),
                "input": "x".join(str(v) for v in speed.get("input_size", [])),
                "precision": ", ".join(
                    sorted({s.get("precision", "") for s in t.conditions.get("speed", [])})
                ),
                "batches": ", ".join(str(s.get("batch")) for s in t.conditions.get("speed", [])),
                "threads": speed.get("threads"),
                "timer": speed.get("timer"),
                "memory": speed.get("memory"),
                "training": (
                    f"{training.get('iterations')} it, batch {training.get('batch')}, "
                    f"lr {training.get('lr', 0):.2e}, {training.get('augmentation')}"
                    if training
                    else "evaluated as is"
                ),
                "notes": _failure_notes(t),
            }
        )
    return conditions


def what_is_timed(trials: list[TrialRecord]) -> dict[str, Any]:
    """What the latency of the first ok trial times (phase -> description)."""
    first_ok = next((t for t in trials if t.status == "ok"), None)
    if first_ok and first_ok.conditions.get("speed"):
        out: dict[str, Any] = first_ok.conditions["speed"][0].get("what_is_timed", {})
        return out
    return {}


def _failure_notes(t: TrialRecord) -> list[dict[str, str]]:
    """The conditions-table notes of a trial: each measurement that failed, with its kind, and
    the non-finite boxes dropped before scoring (when any)."""
    notes = [
        {
            "text": f"{PART_NAMES.get(f.part, f.part)}: {f.kind}: {f.summary()}"
            + (f" (at {f.where})" if not f.unsupported and f.where else ""),
            "title": f.traceback,
            "kind": f.kind,
        }
        for f in failures_of(t.conditions)
    ]
    dropped = _num(t.metrics.get("dropped_nonfinite_boxes"))
    if dropped:
        text = f"{dropped:.0f} boxes with inf/nan coordinates or scores dropped before scoring"
        notes.append({"text": text, "title": "", "kind": "dropped"})
    return notes
