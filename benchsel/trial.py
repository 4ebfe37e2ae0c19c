"""One trial, start to finish, in the current process: build, fine-tune, evaluate, measure."""

from __future__ import annotations

import json
import math
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchsel.adapters import ClassSpec, LoadedModel, build_model
from benchsel.catalog import load_catalog
from benchsel.data.images import read_rgb
from benchsel.data.types import Dataset
from benchsel.measure.accuracy import (
    CocoEvaluator,
    PanopticEvaluator,
    SemanticEvaluator,
    panoptic_to_detections,
    panoptic_to_semantic,
)
from benchsel.measure.complexity import count_complexity
from benchsel.measure.environment import environment
from benchsel.measure.latency import SpeedSettings, measure_speed, speed_metrics
from benchsel.predictions import Detections, PanopticPrediction, SemanticMap
from benchsel.prepare import PreparedData
from benchsel.trials import TrialSpec

PRIMARY_METRIC = {
    "detection": "bbox_AP",
    "instance": "segm_AP",
    "semantic": "mIoU",
    "panoptic": "PQ",
}
VAL_CURVE_POINTS = 4
VAL_CURVE_IMAGES = 20


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_json_default)

    @classmethod
    def from_json(cls, text: str) -> TrialOutcome:
        return cls(**json.loads(text))


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("the suite asks for device 'cuda' but no CUDA device is available")
    return requested


def class_spec(prepared: PreparedData, task: str) -> ClassSpec:
    if task in ("detection", "instance"):
        return ClassSpec.things(prepared.classes[: prepared.num_things])
    if task == "semantic":
        return ClassSpec.semantic(prepared.classes)
    return ClassSpec(tuple(prepared.classes), prepared.num_things)


def evaluate(
    model: LoadedModel, task: str, val: Dataset, limit: int | None = None
) -> dict[str, float]:
    """Score ``model`` on the val split with benchsel's evaluators (plus cross-task scores)."""
    from benchsel.data.coco_panoptic import read_segment_png
    from benchsel.data.openmmlab import semantic_label_map

    images = val.images[:limit] if limit else val.images
    subset = val.subset([im.id for im in images]) if limit else val
    things = subset.thing_classes
    thing_ds = Dataset(
        subset.name,
        subset.format,
        subset.root,
        things,
        len(things),
        subset.images,
        category_ids=(subset.category_ids or [])[: len(things)] or None,
    )
    bbox = CocoEvaluator(thing_ds, "bbox") if task != "semantic" else None
    segm = CocoEvaluator(thing_ds, "segm") if task in ("instance", "panoptic") else None
    sem = SemanticEvaluator(subset.classes, 255) if task in ("semantic", "panoptic") else None
    pan = PanopticEvaluator(subset.classes, subset.num_things) if task == "panoptic" else None
    for im in images:
        pred = model.predict([read_rgb(im.file)])[0]
        if isinstance(pred, PanopticPrediction):
            assert pan is not None and sem is not None and im.panoptic_file is not None
            ids = read_segment_png(im.panoptic_file)
            pan.process(ids, [(s.id, s.label, s.iscrowd) for s in im.segments], pred)
            sem.process(semantic_label_map(subset, im), panoptic_to_semantic(pred))
            dets = panoptic_to_detections(pred)
            assert bbox is not None and segm is not None
            bbox.process(im.id, dets)
            segm.process(im.id, dets)
        elif isinstance(pred, SemanticMap):
            assert sem is not None
            sem.process(semantic_label_map(subset, im), pred)
        else:
            assert isinstance(pred, Detections) and bbox is not None
            bbox.process(im.id, pred)
            if segm is not None:
                segm.process(im.id, pred)
    metrics: dict[str, float] = {}
    for ev, prefix in ((bbox, ""), (segm, ""), (pan, ""), (sem, "semantic_" if pan else "")):
        if ev is not None:
            for key, value in ev.evaluate().items():
                # pycocotools reports -1 for "nothing to measure": store it as undefined.
                metrics[prefix + key] = float("nan") if value == -1 else value
    return metrics


def _val_hook(model: LoadedModel, task: str, val: Dataset, every: int) -> Any:
    from mmengine.hooks import Hook

    class ValCurve(Hook):
        priority = "LOW"

        def __init__(self) -> None:
            self.curve: list[dict[str, float]] = []

        def after_train_iter(
            self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
        ) -> None:
            it = runner.iter + 1
            if every and it % every == 0 and it < runner.max_iters:
                model.model.eval()
                try:
                    metrics = evaluate(model, task, val, limit=VAL_CURVE_IMAGES)
                    key = PRIMARY_METRIC[task]
                    self.curve.append({"iter": float(it), key: metrics.get(key, float("nan"))})
                finally:
                    model.model.train()

    return ValCurve()


def run_trial(spec: TrialSpec, prepared: PreparedData, out_dir: Path) -> TrialOutcome:
    """Run one trial; any exception becomes a failed outcome with its traceback."""
    start = time.perf_counter()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        outcome = _run(spec, prepared, out_dir)
    except Exception as exc:
        outcome = TrialOutcome(
            status="failed",
            error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-12)}",
        )
    outcome.wall_s = time.perf_counter() - start
    return outcome


def _run(spec: TrialSpec, prepared: PreparedData, out_dir: Path) -> TrialOutcome:
    import torch

    arch = load_catalog().get(spec.arch_id)
    device = resolve_device(spec.measurement.device)
    threads = spec.measurement.threads
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(spec.seed)
    classes = class_spec(prepared, spec.task)
    variant = None if spec.variant == "default" else spec.variant
    model = build_model(
        arch,
        classes,
        variant=variant,
        input_size=spec.input_size,
        device=device,
        checkpoint=spec.checkpoint,
        cache_dir=out_dir.parent.parent / "cache",
    )
    val = prepared.val_dataset(spec.task)
    metrics: dict[str, float] = {}
    curves: dict[str, Any] = {}
    conditions: dict[str, Any] = {"device": device, "input_size": list(spec.input_size)}
    if model.load_report is not None:
        conditions["checkpoint"] = {"source": spec.checkpoint, "load": model.load_report.summary()}

    iterations = _iterations(spec, prepared)
    if iterations > 0:
        train_cfg = prepared.split_cfg(spec.task, f"train@{spec.data_fraction:g}")
        class_weight = None
        if spec.loss == "weighted_ce":
            from benchsel.train import class_weights_from_pixels

            share = prepared.stats["train_pixel_share"]
            class_weight = class_weights_from_pixels(share, prepared.classes)
        val_hook = _val_hook(model, spec.task, val, max(1, iterations // VAL_CURVE_POINTS))
        from benchsel.train import train

        result = train(
            model,
            train_cfg,
            out_dir / "train",
            iterations=iterations,
            batch_size=spec.training.batch_size,
            seed=spec.seed,
            lr_rule=spec.training.lr_scale,
            augmentation=spec.training.augmentation,
            loss=spec.loss,
            class_weight=class_weight,
            amp=spec.training.amp,
            max_minutes=spec.training.max_minutes,
            hooks=[val_hook],
            progress=out_dir / "progress.json",
        )
        curves["train_loss"] = result.loss_curve
        curves["val"] = val_hook.curve
        metrics.update(_training_cost(spec, prepared, result, arch))
        conditions["training"] = {
            "device": device,
            "batch": spec.training.batch_size,
            "iterations": result.iterations,
            "lr": result.lr,
            "base_lr": result.base_lr,
            "base_batch": result.base_batch,
            "lr_rule": spec.training.lr_scale,
            "amp": bool(spec.training.amp and device.startswith("cuda")),
            "augmentation": spec.training.augmentation,
            "loss": spec.loss,
            "stopped_by_wall_clock": result.stopped_early,
            "memory": result.memory_what,
            "schedule": "linear warm-up (10%) + cosine to 5% of lr, per iteration",
        }
    model.model.eval()
    metrics.update(evaluate(model, spec.task, val))
    primary = PRIMARY_METRIC[spec.task]
    metrics["accuracy"] = metrics.get(primary, float("nan"))
    conditions["accuracy"] = {
        "metric": primary,
        "val_images": len(val.images),
        "evaluator": "benchsel (faster-coco-eval / panopticapi algorithm / confusion matrix)",
    }
    checkpoint = out_dir / "weights.pth"
    model.save_weights(str(checkpoint))

    deploy = model
    if tuple(spec.deploy_size) != tuple(spec.input_size):
        deploy = build_model(
            arch, classes, variant=variant, input_size=spec.deploy_size, device=device
        )
        deploy.model.load_state_dict(model.model.state_dict())
    complexity = count_complexity(deploy)
    metrics["params_m"] = complexity.params_m
    metrics["gflops"] = complexity.gflops
    metrics["gflops_x2"] = complexity.gflops_x2
    conditions["complexity"] = complexity.to_dict()

    m = spec.measurement
    settings = SpeedSettings(
        batch_sizes=m.batch_sizes,
        precisions=m.precision,
        warmup_iters=m.warmup_iters,
        min_iters=m.min_iters,
        min_seconds=m.min_seconds,
        threads=m.threads,
    )
    speed = measure_speed(deploy, settings)
    metrics.update(speed_metrics(speed))
    conditions["speed"] = [
        r.conditions | {"batch": r.batch, "precision": r.precision} for r in speed
    ]
    metrics.update(_label_cost(spec, prepared))
    return TrialOutcome(
        status="ok",
        metrics=metrics,
        conditions=conditions,
        environment=environment(),
        curves=curves,
        checkpoint_path=str(checkpoint),
    )


def _iterations(spec: TrialSpec, prepared: PreparedData) -> int:
    training = spec.training
    if training.epochs:
        images = prepared.train_image_counts[f"{spec.data_fraction:g}"]
        return training.epochs * max(1, math.ceil(images / training.batch_size))
    return int(training.iterations or 0)


def _stock_epochs(arch: Any) -> int:
    from mmengine.config import Config

    cfg = Config.fromfile(str(arch.config_path()))
    loop = cfg.get("train_cfg") or {}
    if loop.get("max_epochs"):
        return int(loop["max_epochs"])
    if loop.get("max_iters"):  # iteration schedules: epochs on COCO-sized data (118k images)
        batch = int(cfg.train_dataloader.batch_size) * 8
        return max(1, round(loop["max_iters"] * batch / 118_287))
    return 12


def _training_cost(
    spec: TrialSpec, prepared: PreparedData, result: Any, arch: Any
) -> dict[str, float]:
    """Measured throughput, and the projected cost of a full schedule on all the data."""
    epochs = spec.cost.full_schedule_epochs or _stock_epochs(arch)
    images = prepared.train_images
    hours = epochs * images / result.images_per_s / 3600 if result.images_per_s else float("nan")
    return {
        "train_wall_s": result.wall_s,
        "train_iters": float(result.iterations),
        "train_images_per_s": result.images_per_s,
        "train_peak_mem_mb": result.peak_mem_mb,
        "train_full_schedule_epochs": float(epochs),
        "train_full_schedule_hours": hours,
        "train_full_schedule_usd": hours * spec.cost.gpu_hour_usd,
    }


def _label_cost(spec: TrialSpec, prepared: PreparedData) -> dict[str, float]:
    """Labelling cost of the training images this trial used, and of the whole train split."""
    from benchsel.data.labelling import KIND_OF_TASK

    kind, _unit = KIND_OF_TASK[spec.task]
    price = getattr(spec.labelling, kind)
    per_image = prepared.units_per_image[spec.task]
    used = prepared.train_image_counts[f"{spec.data_fraction:g}"]
    return {
        "labelled_images": float(used),
        "label_units": per_image * used,
        "label_cost_usd": per_image * used * price.typical,
        "label_cost_low_usd": per_image * used * price.low,
        "label_cost_high_usd": per_image * used * price.high,
        "label_cost_full_usd": per_image * prepared.train_images * price.typical,
    }
