"""One task's section of the report: the recommendation and its evidence, the racing log, the
trade-off plots (accuracy against latency, FLOPs, labelling cost, labelled images), per-class
scores, training curves, and why the models win or lose (error breakdowns, per-class intervals,
F1 curves, the best trial's confusion, the label-issue gallery)."""

from __future__ import annotations

from typing import Any

from benchsel.evaluation.label_issues import best_trials
from benchsel.recommend import Recommendation
from benchsel.recommend.explain import describe
from benchsel.recommend.explain_verdict import evidence_summary
from benchsel.report.figures.classes import class_heatmap, class_scores, confusion
from benchsel.report.figures.diagnostics import coco_analysis, error_breakdown, f1_curves
from benchsel.report.figures.learning import learning_curves
from benchsel.report.figures.tradeoffs import degenerate_reason, scatter
from benchsel.report.figures.training import training_curves
from benchsel.report.gallery import issue_gallery
from benchsel.report.page import PageFigures
from benchsel.report.reading import ok_trials
from benchsel.store import TrialRecord
from benchsel.tasks import PRIMARY_METRIC, task_info


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


def task_section(
    trials: list[TrialRecord],
    task: str,
    rec: Recommendation,
    prepared: dict[str, Any],
    race: dict[str, Any] | None,
    figs: PageFigures,
) -> dict[str, Any]:
    """The section of ``task``: its recommendation ``rec``, the racing log of ``race``, the
    plots (added to ``figs``) and the label-issue gallery; ``prepared`` is the run's data set
    summary (class names, thing classes first)."""
    c = rec.constraints
    classes = prepared.get("classes", [])
    thing_classes = classes[: prepared.get("num_things", len(classes))]
    task_classes = thing_classes if task_info(task).things_only else classes
    plots = [
        figs.add(
            scatter(
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
        figs.add(
            scatter(trials, task, "gflops", "GFLOPs", rec),
            "Accuracy against FLOPs at the deployment input size (1 multiply-add = 1 FLOP).",
        ),
        figs.add(
            scatter(trials, task, "label_cost_usd", "labelling cost $", rec),
            "Accuracy against the labelling cost of the training images each trial used.",
            degenerate_reason(trials, task, "label_cost_usd"),
        ),
        figs.add(
            learning_curves(trials, task, c.target_accuracy),
            "Accuracy against the number of labelled training images (data fractions); "
            "hover for the labelling cost of each point.",
            degenerate_reason(trials, task, "labelled_images"),
        ),
        figs.add(class_heatmap(trials, task, task_classes), "Per-class scores."),
        figs.add(
            training_curves(trials, task),
            "Training loss per iteration and the periodic validation metric.",
        ),
    ]
    return {
        "task": task,
        "metric": PRIMARY_METRIC[task],
        "rec": rec,
        "evidence": evidence_summary(rec),
        "race": _race_rows(race, task),
        "constraints": describe(task, c),
        "plots": [p for p in plots if p],
        **_why(trials, task, task_classes, figs),
    }


def _why(
    trials: list[TrialRecord], task: str, classes: list[str], figs: PageFigures
) -> dict[str, Any]:
    """The "why" part of a task's section: error breakdowns, per-class scores with intervals,
    F1 curves, the best trial's confusion matrix and the label-issue gallery."""
    best = best_trials(trials).get(task)
    ok = ok_trials(trials, task)
    if best is None and ok:
        best = max(ok, key=lambda t: t.metrics.get("accuracy") or -1.0)
    threshold = best.metrics.get("f1_best_threshold") if best else None
    plots = [
        figs.add(
            error_breakdown(trials, task),
            "AP lost to each error type (TIDE, IoU 0.5): how much AP would rise if only those "
            "errors were fixed: cls(ification), loc(alisation), both, dupe (duplicate), bkg "
            "(background), miss(ed object); all FP / all FN fix every false positive / every "
            "miss at once.",
        ),
        figs.add(
            coco_analysis(trials, task),
            "COCO's analysis: AP at IoU 0.75 and 0.5, then with localisation errors (IoU 0.1), "
            "class confusion and background false positives forgiven in turn; FN is 1.",
        ),
        figs.add(
            class_scores(trials, task, classes),
            "Per-class scores with 95% bootstrap intervals over validation images.",
        ),
        figs.add(
            f1_curves(trials, task),
            "Mean F1 over classes against the confidence threshold; the star marks the "
            "threshold that maximises it (f1_best_threshold)."
            + (f" Best trial's: {threshold:.2f}." if threshold is not None else ""),
        ),
        figs.add(
            confusion(best) if best else None,
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
