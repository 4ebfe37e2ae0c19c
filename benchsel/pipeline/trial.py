"""One trial, start to finish, in the current process.

The steps: build the model, fine-tune it, evaluate it, save its weights, rebuild it at the
deployment size, then measure what it costs (:mod:`.costs`: FLOPs, latency, training and label
prices) and how it serves (:mod:`.deployed`: TTA and ONNX Runtime). Any exception becomes a
failed outcome with its traceback; the driver stores it as a failed row.
"""

from __future__ import annotations

import base64
import json
import math
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

from benchsel.adapters import ClassSpec, LoadedModel, build_model, import_models
from benchsel.catalog import Architecture, load_catalog
from benchsel.data.types import Dataset
from benchsel.evaluation.bootstrap import INTERVAL_METHOD, STATE_OF_METRIC, EvalState
from benchsel.evaluation.driver import evaluate, evaluate_model
from benchsel.pipeline.costs import (
    count_complexity_into,
    label_cost_metrics,
    time_inference,
    training_cost_metrics,
)
from benchsel.pipeline.deployed import measure_deployed
from benchsel.pipeline.layout import TrialFiles
from benchsel.pipeline.plan import TrialSpec
from benchsel.pipeline.prepare import PreparedData
from benchsel.profiling.memory import PeakMemory
from benchsel.tasks import task_info

VAL_CURVE_POINTS = 4
VAL_CURVE_IMAGES = 20
LATENCY_IMAGES = 50  # validation images cycled through by the latency loops


@dataclass
class TrialOutcome:
    """What a trial produced; the driver turns it into a stored row."""

    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    checkpoint_path: str | None = None
    error: str | None = None
    wall_s: float = 0.0
    eval_states: dict[str, str] = field(default_factory=dict)  # evaluation -> base64 npz
    val_predictions: str | None = None  # base64 npz (benchsel.evaluation.val_predictions)

    def states_bytes(self) -> dict[str, bytes]:
        return {k: base64.b64decode(v) for k, v in self.eval_states.items()}

    def predictions_bytes(self) -> bytes | None:
        return base64.b64decode(self.val_predictions) if self.val_predictions else None

    def to_json(self) -> str:
        """JSON for the driver (NaN kept as a literal: metrics may be undefined)."""
        return json.dumps(asdict(self), default=_json_default)

    @classmethod
    def from_json(cls, text: str) -> TrialOutcome:
        return cls(**json.loads(text))


def _json_default(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("the suite asks for device 'cuda' but no CUDA device is available")
    return requested


def class_spec(prepared: PreparedData, task: str) -> ClassSpec:
    """The classes a model of ``task`` predicts: things only, or things then stuff."""
    if task_info(task).things_only:
        return ClassSpec.things(prepared.classes[: prepared.num_things])
    if task == "semantic":
        return ClassSpec.semantic(prepared.classes)
    return ClassSpec(tuple(prepared.classes), prepared.num_things)


def run_trial(spec: TrialSpec, prepared: PreparedData, files: TrialFiles) -> TrialOutcome:
    """Run one trial; any exception becomes a failed outcome with its traceback."""
    start = time.perf_counter()
    try:
        files.dir.mkdir(parents=True, exist_ok=True)
        outcome = _run(spec, prepared, files)
    except Exception as exc:
        outcome = TrialOutcome(
            status="failed",
            error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-12)}",
        )
    outcome.wall_s = time.perf_counter() - start
    return outcome


def _run(spec: TrialSpec, prepared: PreparedData, files: TrialFiles) -> TrialOutcome:
    import torch

    from benchsel.profiling.environment import environment
    from benchsel.profiling.memory import current_rss_mib, release_freed_memory

    arch = load_catalog().get(spec.arch_id)
    import_models(arch.package)  # the libraries are not the model's cost
    baseline_mib = current_rss_mib()  # before any model exists
    device = resolve_device(spec.measurement.device)
    if device == "cpu" and torch.cuda.is_available():
        raise RuntimeError(
            "device 'cpu' with a visible GPU: mmengine's Runner would move the model to the GPU. "
            "Run trials with the subprocess executor (it hides the GPU from CPU trials) or set "
            "CUDA_VISIBLE_DEVICES=''"
        )
    if spec.measurement.threads:
        torch.set_num_threads(spec.measurement.threads)
    torch.manual_seed(spec.seed)
    model = build_model(
        arch,
        class_spec(prepared, spec.task),
        variant=_variant(spec),
        input_size=spec.input_size,
        device=device,
        checkpoint=spec.checkpoint,
        cache_dir=prepared.cache_dir,
    )
    out = TrialOutcome(status="ok", environment=environment())
    out.conditions = {
        "device": device,
        "input_size": list(spec.input_size),
        "memory_baseline_mib": round(baseline_mib, 1),
    }
    if model.load_report is not None:
        out.conditions["checkpoint"] = {
            "source": spec.checkpoint,
            "load": model.load_report.summary(),
        }
    val = prepared.val_dataset(spec.task)
    if _iterations(spec, prepared) > 0:
        _fine_tune(spec, prepared, model, val, files, arch, out, baseline_mib)
    plain_states = _evaluate(spec, model, val, out)
    test = prepared.test_dataset(spec.task)
    if test is not None:
        _evaluate_held_out(spec, model, test, out)
    if "val" in out.curves:  # the curve ends on the number the trial reports
        out.curves["val"].append(
            {
                "iter": float(out.metrics["train_iters"]),
                task_info(spec.task).primary_metric: out.metrics["accuracy"],
                "weights": "final",
                "val_images": float(len(val.images)),
            }
        )
    model.save_weights(str(files.weights))
    out.checkpoint_path = str(files.weights)
    deploy = _deployment_model(spec, prepared, model, arch)
    folded = deploy.reparameterize()  # the network upstream deploys (YOLOv6's RepVGG blocks)
    if folded:
        out.conditions["deployed_network"] = f"{folded} RepVGG blocks folded, as mmyolo deploys"
    release_freed_memory()
    count_complexity_into(deploy, out)
    image_files = [im.file for im in val.images][:LATENCY_IMAGES]
    time_inference(spec, deploy, image_files, out, baseline_mib)
    if spec.measurement.tta or "onnxruntime" in spec.measurement.runtimes:
        measure_deployed(
            spec, model, deploy, val, plain_states, image_files, out, files, baseline_mib
        )
    out.metrics.update(label_cost_metrics(spec, prepared))
    return out


def _variant(spec: TrialSpec) -> str | None:
    return None if spec.variant == "default" else spec.variant


def _iterations(spec: TrialSpec, prepared: PreparedData) -> int:
    training = spec.training
    if training.epochs:
        images = prepared.train_images_at(spec.data_fraction)
        return training.epochs * max(1, math.ceil(images / training.batch_size))
    return int(training.iterations or 0)


def _fine_tune(
    spec: TrialSpec,
    prepared: PreparedData,
    model: LoadedModel,
    val: Dataset,
    files: TrialFiles,
    arch: Architecture,
    out: TrialOutcome,
    baseline_mib: float,
) -> None:
    """Train through mmengine's Runner; record the curves, training cost and conditions."""
    from benchsel.adapters.train.hooks import ValCurve
    from benchsel.adapters.train.train_config import class_weights_from_pixels
    from benchsel.adapters.train.training import train

    iterations = _iterations(spec, prepared)
    class_weight = None
    if spec.loss == "weighted_ce":
        share = prepared.stats["train_pixel_share"]
        class_weight = class_weights_from_pixels(share, prepared.classes)
    metric = task_info(spec.task).primary_metric

    def score() -> float:
        return evaluate(model, spec.task, val, limit=VAL_CURVE_IMAGES).get(metric, math.nan)

    val_curve = ValCurve(
        model.model,
        max(1, iterations // VAL_CURVE_POINTS),
        metric,
        score,
        val_images=min(VAL_CURVE_IMAGES, len(val.images)),
    )
    result = train(
        model,
        prepared.train_split_cfg(spec.task, spec.data_fraction),
        files.train_dir,
        iterations=iterations,
        batch_size=spec.training.batch_size,
        seed=spec.seed,
        lr_rule=spec.training.lr_scale,
        lr=spec.training.lr,
        augmentation=spec.training.augmentation,
        loss=spec.loss,
        class_weight=class_weight,
        amp=arch.amp_default if spec.training.amp is None else spec.training.amp,
        max_minutes=spec.training.max_minutes,
        hooks=[val_curve],
        progress=files.progress,
        memory=PeakMemory(model.device, baseline_mib),
    )
    out.curves["train_loss"] = result.loss_curve
    out.curves["val"] = val_curve.curve
    out.metrics.update(training_cost_metrics(spec, prepared, result, arch))
    out.conditions["training"] = result.conditions(model.device)
    if not arch.amp_default and spec.training.amp is None and model.device.startswith("cuda"):
        out.conditions["training"]["amp_off_because"] = arch.amp_note


def _evaluate(
    spec: TrialSpec, model: LoadedModel, val: Dataset, out: TrialOutcome
) -> dict[str, EvalState]:
    """Score on the val split, with bootstrap intervals (per class too); keep the per-image
    states, the diagnostics (error breakdowns, F1 curves, confusion matrix) and the compact
    val predictions label-issue ranking reads. Returns the per-image states."""
    model.model.eval()
    start = time.perf_counter()
    result = evaluate_model(model, spec.task, val, diagnose=True)
    out.metrics.update(result.metrics)
    intervals_start = time.perf_counter()
    intervals = result.intervals(per_class=True)
    out.metrics.update(intervals)
    intervals_s = time.perf_counter() - intervals_start
    out.curves.update(result.curves)
    if result.predictions is not None:
        out.val_predictions = base64.b64encode(result.predictions.to_bytes()).decode("ascii")
    primary = task_info(spec.task).primary_metric
    out.metrics.update(result.primary(spec.task, intervals))
    out.eval_states = {
        name: base64.b64encode(state.to_bytes()).decode("ascii")
        for name, state in result.states.items()
    }
    out.conditions["accuracy"] = {
        "metric": primary,
        "val_images": len(val.images),
        "evaluator": "benchsel (faster-coco-eval / panopticapi algorithm / confusion matrix)",
        "interval": INTERVAL_METHOD,
        "wall_s": round(time.perf_counter() - start, 2),
        "intervals_s": round(intervals_s, 2),
    }
    if result.conditions:
        out.conditions["diagnostics"] = result.conditions
    return {str(name): state for name, state in result.states.items()}


def _evaluate_held_out(
    spec: TrialSpec, model: LoadedModel, test: Dataset, out: TrialOutcome
) -> None:
    """Score the held-out test split (``test_accuracy`` with its interval, ``test_<metric>``):
    the recommendation picks on val and reports the pick's score here, on images that did not
    choose it. Its per-image states are kept as ``test_<evaluation>``."""
    start = time.perf_counter()
    result = evaluate_model(model, spec.task, test)
    intervals = result.intervals()
    for key in STATE_OF_METRIC:  # the metrics options are compared on, across tasks too
        if key in result.metrics:
            out.metrics[f"test_{key}"] = result.metrics[key]
            for end in ("ci_low", "ci_high"):
                out.metrics[f"test_{key}_{end}"] = intervals.get(f"{key}_{end}", math.nan)
    out.metrics.update(result.primary(spec.task, intervals, "test_accuracy"))
    out.eval_states.update(
        {
            f"test_{name}": base64.b64encode(state.to_bytes()).decode("ascii")
            for name, state in result.states.items()
        }
    )
    out.conditions["test_accuracy"] = {
        "metric": task_info(spec.task).primary_metric,
        "test_images": len(test.images),
        "interval": INTERVAL_METHOD.replace("validation", "test"),
        "wall_s": round(time.perf_counter() - start, 2),
    }


def _deployment_model(
    spec: TrialSpec, prepared: PreparedData, model: LoadedModel, arch: Architecture
) -> LoadedModel:
    """The trained model at the deployment size (the same model when the sizes agree)."""
    if tuple(spec.deploy_size) == tuple(spec.input_size):
        return model
    deploy = build_model(
        arch,
        class_spec(prepared, spec.task),
        variant=_variant(spec),
        input_size=spec.deploy_size,
        device=model.device,
    )
    deploy.model.load_state_dict(model.model.state_dict())
    return deploy
