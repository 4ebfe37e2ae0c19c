"""The trained model served another way: with test-time augmentation, or exported to ONNX
Runtime. Each is scored on the same validation images as the PyTorch model (with its own
bootstrap interval and a paired difference to PyTorch's score) and timed with the same phases,
so what it buys and what it costs sit side by side.

Metric names take a prefix: ``tta_`` (``tta_accuracy``, ``tta_gain``,
``tta_latency_e2e_p50_ms``, ``tta_views``) and ``onnxruntime_`` (``onnxruntime_accuracy``,
``onnxruntime_accuracy_delta``, ``onnxruntime_latency_e2e_p50_ms``, ``onnxruntime_fps``, ...).
Both raise what stops them; the trial runs each under :func:`benchsel.store.failures.guarded`,
which keeps the trial ok and stores the failure with its kind (a documented limit, or an
error) in the trial's conditions.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchsel.adapters import LoadedModel
from benchsel.data.types import Dataset
from benchsel.evaluation.bootstrap import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    STATE_OF_METRIC,
    EvalState,
    paired_bootstrap,
)
from benchsel.evaluation.driver import evaluate_model
from benchsel.pipeline.costs import speed_settings_of
from benchsel.pipeline.layout import TrialFiles
from benchsel.pipeline.plan import TrialSpec
from benchsel.profiling.environment import device_name
from benchsel.profiling.latency import SpeedSettings, measure_speed, speed_metrics
from benchsel.tasks import task_info

if TYPE_CHECKING:
    from benchsel.pipeline.trial import TrialOutcome

# The deployed model's score must equal PyTorch's within this (absolute, on the primary metric):
# the exported network reproduces PyTorch's outputs to ~1e-6, so only a score that flips at a
# threshold can move; more than this is a real disagreement and is reported as one.
ONNXRUNTIME_ACCURACY_TOLERANCE = 0.005
NO_PLAIN_SCORE = (
    "the PyTorch model could not be scored at the deployment size (see "
    "conditions.deploy_accuracy.failure)"
)


def _single_image_fp32(settings: SpeedSettings) -> SpeedSettings:
    """Batch 1, fp32: what the deployed comparison reports (the plain model's settings else)."""
    return dataclasses.replace(settings, batch_sizes=(1,), precisions=("fp32",))


def score_and_time(
    predictor: LoadedModel,
    task: str,
    val: Dataset,
    plain_states: Mapping[str, EvalState],
    image_files: Sequence[Path],
    settings: SpeedSettings,
    prefix: str,
    difference_name: str,
    baseline_mib: float | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """``prefix``-named accuracy (with its interval), its paired difference to the plain
    model on the same images (``<prefix><difference_name>`` with an interval; not measured
    without ``plain_states``), and batch-1 latency; returns (metrics, conditions)."""
    primary = task_info(task).primary_metric
    start = time.perf_counter()
    result = evaluate_model(predictor, task, val)
    metrics = result.primary(task, result.intervals(), f"{prefix}accuracy")
    evaluation, state_metric = STATE_OF_METRIC[primary]
    difference = (
        f"{difference_name}: paired bootstrap against the PyTorch model, same images and resamples"
    )
    if evaluation not in plain_states:
        difference = f"{difference_name}: not measured: {NO_PLAIN_SCORE}"
    elif evaluation in result.states:
        paired = paired_bootstrap(
            result.states[evaluation],
            plain_states[evaluation],
            state_metric,
            BOOTSTRAP_RESAMPLES,
            BOOTSTRAP_SEED,
        )
        name = f"{prefix}{difference_name}"
        metrics |= {name: paired.difference, f"{name}_ci_low": paired.ci_low}
        metrics[f"{name}_ci_high"] = paired.ci_high
    eval_s = time.perf_counter() - start
    speed = measure_speed(predictor, _single_image_fp32(settings), image_files, None, baseline_mib)
    metrics |= {prefix + k: v for k, v in speed_metrics(speed).items()}
    conditions = {
        "metric": primary,
        "val_images": len(val.images),
        "difference": difference,
        "eval_wall_s": round(eval_s, 2),
        "speed": speed[0].conditions if speed else {},
    }
    return metrics, conditions


def measure_tta(
    model: LoadedModel,
    task: str,
    val: Dataset,
    plain_states: Mapping[str, EvalState],
    image_files: Sequence[Path],
    settings: SpeedSettings,
    baseline_mib: float | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Accuracy gained (``tta_gain``) and latency paid by the architecture's TTA setting.
    Raises ``TTANotAvailable`` (a documented limit) for an instance or panoptic model."""
    from benchsel.adapters.serve.tta import build_tta

    tta = build_tta(model)
    metrics, conditions = score_and_time(
        tta, task, val, plain_states, image_files, settings, "tta_", "gain", baseline_mib
    )
    metrics["tta_views"] = float(tta.views)
    setting = tta.setting
    return metrics, conditions | {
        "views": tta.views,
        "setting": describe_tta(setting),
        "details": setting,
        "device": device_name(model.device),
    }


def measure_onnxruntime(
    model: LoadedModel,
    task: str,
    val: Dataset,
    plain_states: Mapping[str, EvalState],
    plain_accuracy: float,
    image_files: Sequence[Path],
    settings: SpeedSettings,
    work_dir: Path,
    baseline_mib: float | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Export ``model`` to ONNX, serve it on ONNX Runtime (post-processing on the host), and
    score and time it like the PyTorch model (``plain_accuracy``: NaN when PyTorch could not
    be scored, and the agreement is not checked). Raises ``OnnxExportUnsupported`` for a
    network a known limit rules out, ``OnnxExportFailed`` or anything else when it fails."""
    from benchsel.adapters.serve.onnx_runtime import OnnxRuntimeModel
    from benchsel.data.images import read_rgb

    example = [read_rgb(image_files[0])] if image_files else None
    deployed = OnnxRuntimeModel(
        model, work_dir / "model.onnx", threads=settings.threads, example_images=example
    )
    metrics, conditions = score_and_time(
        deployed,
        task,
        val,
        plain_states,
        image_files,
        settings,
        "onnxruntime_",
        "accuracy_delta",
        baseline_mib,
    )
    export = deployed.export_report
    metrics["onnxruntime_export_s"] = float(export.seconds)
    metrics["onnxruntime_output_max_abs_diff"] = deployed.output_max_abs_diff
    delta = metrics["onnxruntime_accuracy"] - plain_accuracy
    agrees: bool | None = math.isfinite(delta) and abs(delta) <= ONNXRUNTIME_ACCURACY_TOLERANCE
    agreement = f"within tolerance {ONNXRUNTIME_ACCURACY_TOLERANCE}"
    if not math.isfinite(plain_accuracy):
        agrees, agreement = None, f"not checked: {NO_PLAIN_SCORE}"
    elif not agrees:
        agreement = (
            f"DISAGREES: ONNX Runtime scores {delta:+.4f} against PyTorch "
            f"(tolerance {ONNXRUNTIME_ACCURACY_TOLERANCE})"
        )
    return metrics, conditions | {
        "device": f"{device_name('cpu')} (ONNX Runtime CPUExecutionProvider)",
        "threads": deployed.threads,
        "export": export.to_dict(),
        "tolerance": ONNXRUNTIME_ACCURACY_TOLERANCE,
        "agrees": agrees,  # None: not checked
        "agreement": agreement,
    }


def describe_tta(setting: Mapping[str, Any]) -> str:
    """One line: ``rtmdet_tta.py: scales 128/64/192 x flip (6 views), nms iou 0.6``."""
    source = str(setting.get("source", "?")).rsplit("/", 1)[-1]
    scales = "/".join(str(h) if h == w else f"{h}x{w}" for h, w in setting.get("scales", []))
    flips = " x flip" if len(setting.get("flips", [])) > 1 else ""
    merge = setting.get("merge") or {}
    how = f", {merge['type']}" if merge.get("type") else ""
    if merge.get("iou_threshold") is not None:
        how += f" (NMS IoU {merge['iou_threshold']})"
    return f"{source}: scales {scales}{flips} ({setting.get('views', '?')} views){how}"


def measure_deployed(
    spec: TrialSpec,
    model: LoadedModel,
    deploy: LoadedModel,
    val: Dataset,
    plain_states: dict[str, EvalState],
    image_files: list[Path],
    out: TrialOutcome,
    files: TrialFiles,
    baseline: float,
) -> None:
    """Test-time augmentation (accuracy gained against latency paid) and the exported network
    on ONNX Runtime (deployed latency and accuracy), each compared with the PyTorch model at the
    deployment size. Each of the three runs under one guard: a failure keeps the trial ok and
    is stored with its kind (``benchsel.store.failures``); without PyTorch's score at the
    deployment size, TTA and ONNX Runtime are measured and say that nothing was compared."""
    from benchsel.store.failures import guarded

    plain_accuracy = out.metrics["accuracy"]
    if deploy is not model:
        at_size = guarded(
            "deploy_accuracy",
            out.conditions,
            lambda: _evaluate_at_deployment_size(spec, deploy, val, out),
        )
        plain_states, plain_accuracy = at_size if at_size is not None else ({}, math.nan)
    settings = speed_settings_of(spec)
    measures: dict[str, Callable[[], tuple[dict[str, float], dict[str, Any]]]] = {}
    if spec.measurement.tta:

        def tta() -> tuple[dict[str, float], dict[str, Any]]:
            return measure_tta(
                deploy, spec.task, val, plain_states, image_files, settings, baseline
            )

        measures["tta"] = tta
    if "onnxruntime" in spec.measurement.runtimes:

        def onnxruntime() -> tuple[dict[str, float], dict[str, Any]]:
            return measure_onnxruntime(
                deploy,
                spec.task,
                val,
                plain_states,
                plain_accuracy,
                image_files,
                settings,
                files.dir,
                baseline,
            )

        measures["onnxruntime"] = onnxruntime
    for part, measure in measures.items():
        measured = guarded(part, out.conditions, measure)
        if measured is not None:
            out.metrics.update(measured[0])
            out.conditions[part] = measured[1]


def _evaluate_at_deployment_size(
    spec: TrialSpec, deploy: LoadedModel, val: Dataset, out: TrialOutcome
) -> tuple[dict[str, EvalState], float]:
    """The PyTorch model scored at the deployment size (``deploy_accuracy`` with its interval),
    for TTA and ONNX Runtime, which run at that size, to be compared with."""
    out.conditions["deploy_accuracy"] = {
        "metric": task_info(spec.task).primary_metric,
        "input_size": list(deploy.input_size),
        "why": "TTA and ONNX Runtime run at the deployment size: their gain and delta are "
        "against PyTorch at that size, not at the training size",
    }
    result = evaluate_model(deploy, spec.task, val)
    out.metrics.update(result.primary(spec.task, result.intervals(), "deploy_accuracy"))
    states = {str(name): state for name, state in result.states.items()}
    return states, out.metrics["deploy_accuracy"]
