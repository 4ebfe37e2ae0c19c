"""Render a results store into one self-contained, offline HTML file.

Every user-provided string reaches the page through Jinja2's autoescaping or, inside figure
data, HTML-escaped and JSON-encoded with ``</`` broken up, so nothing a user wrote can run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from importlib import resources
from pathlib import Path
from typing import Any

from benchsel.errors import BenchselError
from benchsel.formatting import finite_or_none as _num
from benchsel.formatting import json_safe
from benchsel.recommend import recommend
from benchsel.recommend.explain import describe, evidence_summary
from benchsel.report import figures
from benchsel.store import ResultsStore, TrialRecord, open_store
from benchsel.store.failures import MeasurementFailure, failure_of, failures_of
from benchsel.store.failures import runtime_disagreement as _disagreement
from benchsel.suite import Constraints, LabellingPrices
from benchsel.tasks import PRIMARY_METRIC, task_info

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


def script_json(data: Any) -> str:
    """JSON safe to embed in a <script> element (no '</', no '<!--')."""
    text = json.dumps(data, default=_default, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _default(value: Any) -> Any:
    return None if isinstance(value, float) else str(value)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def _row(t: TrialRecord) -> dict[str, Any]:
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
            {"text": _fmt(value) if kind == "num" else str(value), "sort": sort, "kind": kind}
        )
    return {"label": t.label, "cells": cells, "status": t.status}


def _why(trials: list[TrialRecord], task: str, classes: list[str], add: Any) -> dict[str, Any]:
    """The "why" part of a task's section: error breakdowns, per-class scores with intervals,
    F1 curves, the best trial's confusion matrix and the label-issue gallery."""
    from benchsel.evaluation.label_issues import best_trials
    from benchsel.report.gallery import issue_gallery

    best = best_trials(trials).get(task)
    ok = [t for t in trials if t.task == task and t.status == "ok"]
    if best is None and ok:
        best = max(ok, key=lambda t: t.metrics.get("accuracy") or -1.0)
    threshold = best.metrics.get("f1_best_threshold") if best else None
    plots = [
        add(
            figures.error_breakdown(trials, task),
            "AP lost to each error type (TIDE, IoU 0.5): how much AP would rise if only those "
            "errors were fixed: cls(ification), loc(alisation), both, dupe (duplicate), bkg "
            "(background), miss(ed object); all FP / all FN fix every false positive / every "
            "miss at once.",
        ),
        add(
            figures.coco_analysis(trials, task),
            "COCO's analysis: AP at IoU 0.75 and 0.5, then with localisation errors (IoU 0.1), "
            "class confusion and background false positives forgiven in turn; FN is 1.",
        ),
        add(
            figures.class_scores(trials, task, classes),
            "Per-class scores with 95% bootstrap intervals over validation images.",
        ),
        add(
            figures.f1_curves(trials, task),
            "Mean F1 over classes against the confidence threshold; the star marks the "
            "threshold that maximises it (f1_best_threshold)."
            + (f" Best trial's: {threshold:.2f}." if threshold is not None else ""),
        ),
        add(
            figures.confusion(best) if best else None,
            (
                f"Confusion matrix of {best.label}, rows as fractions of the labelled total"
                + (
                    f" (boxes matched at IoU 0.5, scores >= {threshold:.2f}; last row and "
                    "column: background)"
                    if threshold is not None
                    else " (pixels)"
                )
                + "."
            )
            if best
            else "",
        ),
    ]
    return {
        "why_plots": [p for p in plots if p],
        "gallery": issue_gallery(trials, task),
        "gallery_trial": best.label if best else None,
    }


def _ok(trials: list[TrialRecord], task: str) -> list[TrialRecord]:
    return [t for t in trials if t.task == task and t.status == "ok"]


def _with_interval(t: TrialRecord, key: str) -> str:
    """``value [low, high]`` of a metric and its stored 95% interval (the value alone without)."""
    text = _fmt(_num(t.metrics.get(key)))
    low, high = _num(t.metrics.get(f"{key}_ci_low")), _num(t.metrics.get(f"{key}_ci_high"))
    if low is not None and high is not None:
        text += f" [{_fmt(low)}, {_fmt(high)}]"
    return text


def _speed_conditions(t: TrialRecord) -> str:
    """Where a trial's PyTorch latency was measured: device, threads, input size."""
    speed = (t.conditions.get("speed") or [{}])[0]
    parts = [str(speed.get("device") or t.conditions.get("device") or "device not stored")]
    if speed.get("threads"):
        parts.append(f"{speed['threads']} threads")
    if speed.get("input_size"):
        parts.append("x".join(str(v) for v in speed["input_size"]))
    return ", ".join(parts)


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or not denominator:
        return "-"
    return f"{numerator / denominator:.2f}x"


def _plain_key(t: TrialRecord) -> str:
    """The PyTorch accuracy a deployed number (TTA, ONNX Runtime) is compared with: measured at
    the deployment size when that differs from the training size."""
    return "deploy_accuracy" if _num(t.metrics.get("deploy_accuracy")) is not None else "accuracy"


def _plain(t: TrialRecord) -> str:
    """That accuracy with its interval, or why there is none to compare with."""
    if failure_of(t.conditions, "deploy_accuracy") is not None:
        return "not scored at the deployment size (failed: see the conditions)"
    return _with_interval(t, _plain_key(t))


# How the report names the parts of a trial that can fail without failing it.
_PART_NAMES = {
    "deploy_accuracy": "PyTorch at the deployment size",
    "tta": "TTA",
    "onnxruntime": "ONNX Runtime",
}


def _failure_row(label: str, failure: MeasurementFailure, unsupported_text: str) -> dict[str, Any]:
    """A TTA or ONNX Runtime row that says why it has no numbers: a documented limit, or a
    measurement failure (with where it was raised)."""
    if failure.unsupported:
        reason = f"{unsupported_text}{failure.message}"
    else:
        reason = f"{_PART_NAMES[failure.part]} measurement failed: {failure.summary()}"
    return {
        "label": label,
        "unavailable": reason,
        "failed": not failure.unsupported,
        "where": failure.traceback or failure.where,
    }


def _failure_notes(t: TrialRecord) -> list[dict[str, str]]:
    """The conditions-table notes of a trial: each measurement that failed, with its kind, and
    the non-finite boxes dropped before scoring (when any)."""
    notes = [
        {
            "text": f"{_PART_NAMES.get(f.part, f.part)}: {f.kind}: {f.summary()}"
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


def _race_rows(race: dict[str, Any] | None, task: str) -> list[dict[str, Any]]:
    """The racing log of a run, one row per round: seeds per candidate, the verdict, and which
    candidates got another seed and why."""
    if not race:
        return []
    return [
        {
            "round": r["round"],
            "seeds": ", ".join(f"{n} {k}" for n, k in r["seeds"].items()),
            "verdict": r["verdicts"].get(task, "-"),
            "noise": r["training_noise"].get(task, "-"),
            "added": "; ".join(f"{n}: {why}" for n, why in r["added"].items()) or "none",
        }
        for r in race.get("rounds", [])
        if task in r.get("verdicts", {})
    ]


def _tta_part(trials: list[TrialRecord], task: str, add: Any) -> dict[str, Any] | None:
    """A task's test-time augmentation table and gain-vs-latency plot (None without TTA data)."""
    rows = [
        t
        for t in _ok(trials, task)
        if t.conditions.get("tta") or _num(t.metrics.get("tta_accuracy")) is not None
    ]
    if not rows:
        return None
    table: list[dict[str, Any]] = []
    for t in rows:
        tta = t.conditions.get("tta") or {}
        failure = failure_of(t.conditions, "tta")
        if failure is not None:
            table.append(_failure_row(t.label, failure, ""))
            continue
        plain_ms = _num(t.metrics.get("latency_e2e_p50_ms"))
        tta_ms = _num(t.metrics.get("tta_latency_e2e_p50_ms"))
        table.append(
            {
                "label": t.label,
                "unavailable": None,
                "device": str(tta.get("device") or _speed_conditions(t)),
                "views": figures.tta_views(t),
                "setting": str(tta.get("setting", "-")),
                "plain": _plain(t),
                "tta": _with_interval(t, "tta_accuracy"),
                "gain": _with_interval(t, "tta_gain"),
                "verdict": figures.gain_verdict(
                    _num(t.metrics.get("tta_gain_ci_low")), _num(t.metrics.get("tta_gain_ci_high"))
                ),
                "plain_ms": _fmt(plain_ms),
                "tta_ms": _fmt(tta_ms),
                "ratio": _ratio(tta_ms, plain_ms),
            }
        )
    fig = figures.tta_tradeoff(trials, task)
    if all(r["unavailable"] and not r["failed"] for r in table):
        instead: str | None = (
            f"No {task} candidate has test-time augmentation upstream (the table says why), "
            "so there is no gain to plot."
        )
    elif all(r["unavailable"] for r in table):
        instead = (
            f"No {task} candidate has a TTA measurement (the table says why), so there is no "
            "gain to plot."
        )
    elif fig is None:
        instead = (
            f"No {task} candidate stored both a TTA gain and both latencies, so there is no "
            "trade-off to plot."
        )
    else:
        instead = None
    metric = PRIMARY_METRIC[task]
    plot = add(
        fig,
        f"Each point is one trial: the {metric} that test-time augmentation adds (TTA minus "
        "plain on the same val images; error bars: 95% paired bootstrap interval) against the "
        "end-to-end batch-1 p50 latency it adds, on the device in the table. Grey points' "
        "intervals contain 0: their gain is not separable from no gain.",
        instead,
    )
    return {"task": task, "metric": metric, "plot": plot, "rows": table}


def _runtime_part(trials: list[TrialRecord], task: str, add: Any) -> dict[str, Any] | None:
    """A task's PyTorch vs ONNX Runtime latency plot and table (None without ORT data)."""
    rows = [
        t
        for t in _ok(trials, task)
        if t.conditions.get("onnxruntime")
        or _num(t.metrics.get("onnxruntime_latency_e2e_p50_ms")) is not None
    ]
    if not rows:
        return None
    table: list[dict[str, Any]] = []
    disagreements: list[dict[str, str]] = []
    for t in rows:
        ort = t.conditions.get("onnxruntime") or {}
        failure = failure_of(t.conditions, "onnxruntime")
        if failure is not None:
            table.append(_failure_row(t.label, failure, "does not export to ONNX: "))
            continue
        agreement = str(ort.get("agreement") or "not checked")
        disagreement = _disagreement(ort)
        disagrees = disagreement is not None
        if disagreement is not None:
            disagreements.append({"label": t.label, "agreement": disagreement})
        torch_ms = _num(t.metrics.get("latency_e2e_p50_ms"))
        ort_ms = _num(t.metrics.get("onnxruntime_latency_e2e_p50_ms"))
        threads = ort.get("threads")
        export = ort.get("export") or {}
        table.append(
            {
                "label": t.label,
                "torch_device": _speed_conditions(t),
                "unavailable": None,
                "ort_device": str(ort.get("device") or "device not stored")
                + (f", {threads} threads" if threads else ""),
                "torch_ms": _fmt(torch_ms),
                "ort_ms": _fmt(ort_ms),
                "ratio": "n/a: PyTorch on GPU, ONNX Runtime on CPU"
                if figures.measured_on_gpu(t)
                else _ratio(torch_ms, ort_ms),
                "torch_acc": _plain(t),
                "ort_acc": _with_interval(t, "onnxruntime_accuracy"),
                "delta": _fmt(_num(t.metrics.get("onnxruntime_accuracy_delta"))),
                "max_diff": _fmt_small(_num(t.metrics.get("onnxruntime_output_max_abs_diff"))),
                "agreement": agreement,
                "disagrees": disagrees,
                "export_s": _fmt(_num(t.metrics.get("onnxruntime_export_s"))),
                "export": _export_summary(export),
                "export_details": "; ".join(f"{k}: {v}" for k, v in export.items())
                if isinstance(export, dict)
                else str(export),
            }
        )
    fig = figures.runtime_latency(trials, task)
    instead = (
        None
        if fig is not None
        else f"No {task} candidate was timed in both runtimes (the table says why), so there "
        "is nothing to compare."
    )
    plot = add(
        fig,
        "End-to-end batch-1 p50 latency (preprocess + forward + host postprocess) in PyTorch "
        "and in ONNX Runtime, on the devices in the table; the label on each ONNX Runtime bar "
        "is PyTorch/ONNX Runtime (above 1: ONNX Runtime is faster). Hover for the phases.",
        instead,
    )
    return {
        "task": task,
        "metric": PRIMARY_METRIC[task],
        "plot": plot,
        "rows": table,
        "disagreements": disagreements,
    }


def _fmt_small(value: float | None) -> str:
    """A possibly tiny non-negative number (an output difference) in scientific notation."""
    return "-" if value is None else f"{value:.2e}"


def _backbone_part(trials: list[TrialRecord], task: str, add: Any) -> dict[str, Any] | None:
    """Per head with at least two backbones among a task's ok trials: accuracy vs latency per
    backbone, beside OpenMMLab's published numbers (None when no head has two)."""
    groups = figures.backbone_groups(trials, task)
    if not groups:
        return None
    metric = PRIMARY_METRIC[task]
    heads = []
    for family, pairs in groups.items():
        rows: list[dict[str, Any]] = []
        datasets: set[str] = set()
        for t, backbone in sorted(
            pairs, key=lambda p: (p[0].metrics.get("latency_e2e_p50_ms") or 0.0, p[1])
        ):
            value, dataset = figures.published_accuracy(t.arch_id, t.variant, task)
            if value is not None:
                datasets.add(dataset)
            rows.append(
                {
                    "backbone": backbone,
                    "label": t.label,
                    "yours": _with_interval(t, "accuracy"),
                    "published": _fmt(value)
                    if value is not None
                    else (
                        f"- (variant {t.variant} is not a published config)"
                        if t.variant != "default"
                        else "- (none published)"
                    ),
                    "latency": _fmt(_num(t.metrics.get("latency_e2e_p50_ms"))),
                    "params": _fmt(_num(t.metrics.get("params_m"))),
                    "gflops": _fmt(_num(t.metrics.get("gflops"))),
                    "device": _speed_conditions(t),
                }
            )
        fig = figures.backbone_comparison(pairs, task, family)
        plot = add(
            fig,
            f"{family}: one colour per backbone, {metric} fine-tuned and scored here "
            "(yours, with 95% bootstrap intervals) against end-to-end batch-1 p50 latency on "
            "the device in the table; hollow diamonds: OpenMMLab's published number for the "
            "stock config after its full schedule on its own data set, placed at your latency "
            "for reference.",
            None
            if fig is not None
            else f"Fewer than two of {family}'s backbones have both an accuracy and a latency, "
            "so there is nothing to plot.",
        )
        heads.append(
            {
                "family": family,
                "plot": plot,
                "rows": rows,
                "backbones": sorted({b for _, b in pairs}),
                "published_title": f"published ({', '.join(sorted(datasets))}, full schedule)"
                if datasets
                else "published (full schedule)",
            }
        )
    return {"task": task, "metric": metric, "heads": heads}


def _export_summary(export: Any) -> str:
    """``opset 20, 3.2 MB, one graph for every input shape``: the rest goes in a tooltip."""
    if not isinstance(export, dict):
        return str(export)
    parts = [f"opset {export['opset']}" if export.get("opset") else ""]
    if export.get("file_mb") is not None:
        parts.append(f"{float(export['file_mb']):.1f} MB")
    shapes = str(export.get("shapes") or "")
    parts.append(shapes.split(":")[0])
    return ", ".join(p for p in parts if p)


def build_report(store: ResultsStore) -> str:
    """The report's HTML text."""
    import jinja2
    from plotly.offline import get_plotlyjs

    trials = store.trials()
    run = store.latest_run() or {}
    suite = run.get("suite", {})
    suite_name = run.get("suite_name", store.path.stem)
    constraints = Constraints.model_validate(suite.get("constraints", {}))
    prices = LabellingPrices.model_validate(suite.get("labelling", {}))
    gpu_hour_usd = float((suite.get("cost") or {}).get("gpu_hour_usd", 2.5))
    race = (run.get("dataset") or {}).get("race")
    prepared = (run.get("dataset") or {}).get("prepared", {})
    classes = prepared.get("classes", [])
    tasks = sorted({t.task for t in trials})
    sections = []
    figs: list[dict[str, Any]] = []

    def add(
        fig: dict[str, Any] | None, caption: str, instead: str | None = None
    ) -> dict[str, Any] | None:
        """A figure for the page, or ``instead``: one sentence where the plot would be empty
        of information."""
        if instead is not None:
            return {"id": None, "caption": instead}
        if fig is None:
            return None
        figs.append(json_safe(fig))
        return {"id": f"fig{len(figs) - 1}", "caption": caption}

    for task in tasks:
        c = constraints
        rec = recommend(trials, task, c, prices, gpu_hour_usd)
        thing_classes = classes[: prepared.get("num_things", len(classes))]
        task_classes = thing_classes if task_info(task).things_only else classes
        plots = [
            add(
                figures.scatter(
                    trials,
                    task,
                    "latency_e2e_p50_ms",
                    "latency p50 ms (b1, e2e)",
                    rec,
                    fps_line=c.min_fps,
                ),
                "Accuracy against end-to-end "
                "batch-1 latency; the dashed red line is the fps constraint, the dotted line "
                "the Pareto front of accuracy, latency and cost.",
            ),
            add(
                figures.scatter(trials, task, "gflops", "GFLOPs", rec),
                "Accuracy against FLOPs at the deployment input size (1 multiply-add = 1 FLOP).",
            ),
            add(
                figures.scatter(trials, task, "label_cost_usd", "labelling cost $", rec),
                "Accuracy against the labelling cost of the training images each trial used.",
                figures.degenerate_reason(trials, task, "label_cost_usd"),
            ),
            add(
                figures.learning_curves(trials, task, c.target_accuracy),
                "Accuracy against the number of labelled training images (data fractions); "
                "hover for the labelling cost of each point.",
                figures.degenerate_reason(trials, task, "labelled_images"),
            ),
            add(figures.class_heatmap(trials, task, task_classes), "Per-class scores."),
            add(
                figures.training_curves(trials, task),
                "Training loss per iteration and the periodic validation metric.",
            ),
        ]
        sections.append(
            {
                "task": task,
                "metric": PRIMARY_METRIC[task],
                "rec": rec,
                "evidence": evidence_summary(rec),
                "race": _race_rows(race, task),
                "constraints": describe(task, c),
                "plots": [p for p in plots if p],
                **_why(trials, task, task_classes, add),
            }
        )
    tta_parts = [p for task in tasks if (p := _tta_part(trials, task, add))]
    runtime_parts = [p for task in tasks if (p := _runtime_part(trials, task, add))]
    backbone_parts = [p for task in tasks if (p := _backbone_part(trials, task, add))]
    cost_plot = add(
        figures.training_cost(trials),
        "Projected hours of a full schedule on all the data, on the device each trial trained "
        "on (CPU-hours or GPU-hours, as labelled), and measured training throughput.",
    )
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
    first_ok = next((t for t in trials if t.status == "ok"), None)
    what_timed = {}
    if first_ok and first_ok.conditions.get("speed"):
        what_timed = first_ok.conditions["speed"][0].get("what_is_timed", {})
    env = run.get("environment", {})
    template_text = (
        resources.files("benchsel.report").joinpath("templates/report.html.j2").read_text()
    )
    env_j2 = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env_j2.filters["fmt"] = _fmt
    return env_j2.from_string(template_text).render(
        suite_name=suite_name,
        store_path=str(store.path),
        generated=time.strftime("%Y-%m-%d %H:%M"),
        sections=sections,
        columns=TABLE_COLUMNS,
        rows=[_row(t) for t in trials],
        failed=[t for t in trials if t.status != "ok"],
        conditions=conditions,
        what_timed=what_timed,
        environment=env,
        dataset=prepared,
        cost_plot=cost_plot,
        tta_parts=tta_parts,
        runtime_parts=runtime_parts,
        backbone_parts=backbone_parts,
        plotly_js=get_plotlyjs(),
        figures_json=script_json(figs),
        n_trials=len(trials),
    )


def write_report(store_path: Path, out: Path) -> Path:
    """Build the report of ``store_path`` and write it atomically to ``out``."""
    with open_store(store_path, must_exist=True) as store:
        text = build_report(store)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise BenchselError(f"cannot write the report to {out}: {exc}") from None
    return out
