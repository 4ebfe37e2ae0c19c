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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
from benchsel.profiling.environment import device_name
from benchsel.profiling.latency import SpeedSettings, measure_speed, speed_metrics
from benchsel.tasks import task_info

# The deployed model's score must equal PyTorch's within this (absolute, on the primary metric):
# the exported network reproduces PyTorch's outputs to ~1e-6, so only a score that flips at a
# threshold can move; more than this is a real disagreement and is reported as one.
ONNXRUNTIME_ACCURACY_TOLERANCE = 0.005
NO_PLAIN_SCORE = (
    "the PyTorch model could not be scored at the deployment size (see "
    "conditions.deploy_accuracy.failure)"
)


def _speed_settings(settings: SpeedSettings) -> SpeedSettings:
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
    speed = measure_speed(predictor, _speed_settings(settings), image_files, None, baseline_mib)
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
