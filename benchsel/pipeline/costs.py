"""What a trained model costs: FLOPs and parameters, latency and memory on the validation
images, training throughput and the price of a full schedule, and the price of its labels; each
written into the trial's outcome as metrics and the conditions they were measured under."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchsel.adapters import LoadedModel
from benchsel.catalog import Architecture
from benchsel.data.labelling import price_of, priced
from benchsel.pipeline.plan import TrialSpec
from benchsel.pipeline.prepare import PreparedData
from benchsel.profiling.latency import SpeedSettings

if TYPE_CHECKING:
    from benchsel.pipeline.trial import TrialOutcome


def count_complexity_into(model: LoadedModel, out: TrialOutcome) -> None:
    from benchsel.profiling.complexity import count_complexity

    complexity = count_complexity(model)
    out.metrics["params_m"] = complexity.params_m
    out.metrics["gflops"] = complexity.gflops
    out.metrics["gflops_x2"] = complexity.gflops_x2
    out.conditions["complexity"] = complexity.to_dict()


def time_inference(
    spec: TrialSpec,
    model: LoadedModel,
    image_files: list[Path],
    out: TrialOutcome,
    baseline_mib: float,
) -> None:
    """Latency and memory on the validation images, with the trained weights."""
    from benchsel.profiling.latency import measure_speed, speed_metrics

    speed = measure_speed(model, speed_settings_of(spec), image_files, None, baseline_mib)
    out.metrics.update(speed_metrics(speed))
    out.conditions["speed"] = [
        r.conditions
        | {"batch": r.batch, "precision": r.precision}
        | ({"error": r.error} if r.error else {})
        for r in speed
    ]


def speed_settings_of(spec: TrialSpec) -> SpeedSettings:
    """The suite's ``measurement`` settings as the latency benchmark takes them."""
    m = spec.measurement
    return SpeedSettings(
        batch_sizes=m.batch_sizes,
        precisions=m.precision,
        warmup_iters=m.warmup_iters,
        min_iters=m.min_iters,
        min_seconds=m.min_seconds,
        threads=m.threads,
    )


def training_cost_metrics(
    spec: TrialSpec, prepared: PreparedData, result: Any, arch: Architecture
) -> dict[str, float]:
    """Measured throughput and memory, and the cost of a full schedule on all the data on the
    device that trained (``cpu_hours`` from a CPU, ``gpu_hours`` and USD from a GPU)."""
    from benchsel.adapters.config import stock_schedule_epochs

    device = "gpu" if str(result.device).startswith("cuda") else "cpu"
    epochs = spec.cost.full_schedule_epochs or stock_schedule_epochs(arch)
    images = prepared.train_images
    hours = epochs * images / result.images_per_s / 3600 if result.images_per_s else math.nan
    out = {
        "train_wall_s": result.wall_s,
        "train_iters": float(result.iterations),
        "train_images_per_s": result.images_per_s,
        "train_full_schedule_epochs": float(epochs),
        f"train_full_schedule_{device}_hours": hours,
    }
    out.update({f"train_{k}": v for k, v in result.memory.items()})
    if device == "gpu":
        out["train_full_schedule_usd"] = hours * spec.cost.gpu_hour_usd
    return out


def label_cost_metrics(spec: TrialSpec, prepared: PreparedData) -> dict[str, float]:
    """Labelling cost of the training images this trial used, and of the whole train split."""
    price = price_of(spec.labelling, spec.task)
    per_image = prepared.units_per_image[spec.task]
    used = prepared.train_images_at(spec.data_fraction)
    now = priced(price, per_image * used, digits=None)
    return {
        "labelled_images": float(used),
        "label_units": per_image * used,
        "label_cost_usd": now["typical"],
        "label_cost_low_usd": now["low"],
        "label_cost_high_usd": now["high"],
        "label_cost_full_usd": priced(price, per_image * prepared.train_images, None)["typical"],
    }
