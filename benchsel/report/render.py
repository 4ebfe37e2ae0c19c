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
from benchsel.formatting import json_safe
from benchsel.recommend import recommend
from benchsel.recommend.explain import describe
from benchsel.report import figures
from benchsel.store import ResultsStore, TrialRecord, open_store
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
    from benchsel.data.label_issues import best_trials
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
        rec = recommend(trials, task, c, prices)
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
                figures.learning_curves(trials, task),
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
                "constraints": describe(task, c),
                "plots": [p for p in plots if p],
                **_why(trials, task, task_classes, add),
            }
        )
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
