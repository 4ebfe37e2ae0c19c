"""Fine-tuning through mmengine's Runner: the trial's config (``train_config``) run for its
budget, and what training cost (loss curve, throughput, memory, wall time).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchsel.adapters.base import LoadedModel
from benchsel.adapters.train.train_config import SCHEDULE, build_train_config

GIB = 2**30


class MemoryWindow(Protocol):
    """Measures peak memory over a ``with`` block: ``values`` (metric suffix -> number) and
    ``what`` (how, in words) after it exits."""

    values: dict[str, float]
    what: str

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> Any: ...


@dataclass
class TrainResult:
    """What training measured: the loss curve, throughput, memory and wall time."""

    iterations: int
    images_seen: int
    wall_s: float
    images_per_s: float
    memory: dict[str, float]  # cpu_mem_increase_mib, or gpu_alloc_peak_gib / gpu_reserved_peak_gib
    memory_what: str
    lr: float
    base_lr: float
    base_batch: int
    stopped_early: bool
    device: str
    batch: int
    lr_rule: str
    augmentation: str
    loss: str | None
    amp: bool
    loss_curve: list[dict[str, float]] = field(default_factory=list)

    def conditions(self, device: str) -> dict[str, Any]:
        """What this training run was, for the stored conditions."""
        return {
            "device": device,
            "batch": self.batch,
            "iterations": self.iterations,
            "lr": self.lr,
            "base_lr": self.base_lr,
            "base_batch": self.base_batch,
            "lr_rule": self.lr_rule,
            "amp": self.amp,
            "augmentation": self.augmentation,
            "loss": self.loss,
            "stopped_by_wall_clock": self.stopped_early,
            "memory": self.memory_what,
            "schedule": SCHEDULE,
            "throughput": "images/s over the training loop, time spent scoring the validation "
            "curve excluded",
        }


def train(
    loaded: LoadedModel,
    dataset_cfg: dict[str, Any],
    work_dir: Path,
    *,
    iterations: int,
    batch_size: int,
    seed: int,
    lr_rule: str = "auto",
    lr: float | None = None,
    augmentation: str = "default",
    loss: str | None = None,
    class_weight: list[float] | None = None,
    amp: bool = True,
    max_minutes: float | None = None,
    workers: int = 0,
    hooks: list[Any] | None = None,
    progress: Path | None = None,
    memory: MemoryWindow | None = None,
) -> TrainResult:
    """Fine-tune ``loaded.model`` in place for ``iterations`` and report what it cost.

    ``memory`` measures the training loop's peak memory (the pipeline passes
    :class:`benchsel.profiling.memory.PeakMemory`); without it memory is not measured.
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from benchsel.adapters.train.hooks import CudaMemoryTracker, LossRecorder, StageSwitch

    device = loaded.device
    parts = build_train_config(
        loaded,
        dataset_cfg,
        iterations=iterations,
        batch_size=batch_size,
        lr_rule=lr_rule,
        augmentation=augmentation,
        loss=loss,
        class_weight=class_weight,
        device=device,
        amp=amp,
        workers=workers,
        lr=lr,
    )
    recorder = LossRecorder(max_minutes, progress, iterations)
    switch = parts["stage_switch"]
    extra_hooks: list[Any] = (
        [StageSwitch(**switch)] if switch and 0 < switch["iter"] < iterations else []
    )
    tracker = CudaMemoryTracker(device) if device.startswith("cuda") else None
    if tracker is not None:
        extra_hooks.append(tracker)
    scope = loaded.arch.package
    loaded.model.train()
    with DefaultScope.overwrite_default_scope(scope):
        runner = Runner(
            model=loaded.model,
            work_dir=str(work_dir),
            train_dataloader=parts["train_dataloader"],
            optim_wrapper=parts["optim_wrapper"],
            param_scheduler=parts["param_scheduler"],
            train_cfg=parts["train_cfg"],
            default_hooks={
                "timer": {"type": "IterTimerHook"},
                "logger": {"type": "LoggerHook", "interval": 10},
                "param_scheduler": {"type": "ParamSchedulerHook"},
                "checkpoint": None,
                "sampler_seed": {"type": "DistSamplerSeedHook"},
            },
            custom_hooks=[recorder, *extra_hooks, *(hooks or [])],
            randomness={"seed": seed},
            default_scope=scope,
            env_cfg={"cudnn_benchmark": False, "dist_cfg": {"backend": "gloo"}},
            log_level="INFO",
        )
        # The adapter already initialised (or loaded) the weights; the Runner's own init pass
        # would re-initialise heads whose init_weights ignores mmengine's _is_init flag.
        runner._init_model_weights = lambda: None
        start = time.perf_counter()
        with memory or contextlib.nullcontext():
            runner.train()
        wall = time.perf_counter() - start
    peaks = dict(memory.values) if memory is not None else {}
    memory_what = memory.what if memory is not None else "not measured"
    if tracker is not None:  # every iteration's peak, not just the last log interval's
        peaks = {
            "gpu_alloc_peak_gib": max(
                peaks.get("gpu_alloc_peak_gib", 0.0), tracker.alloc_bytes / GIB
            ),
            "gpu_reserved_peak_gib": max(
                peaks.get("gpu_reserved_peak_gib", 0.0), tracker.reserved_bytes / GIB
            ),
        }
    loaded.model.eval()
    done = recorder.iterations
    # Hooks that score the model (the validation curve) report their time: not training.
    wall -= sum(float(getattr(h, "seconds", 0.0)) for h in hooks or [])
    return TrainResult(
        iterations=done,
        images_seen=done * batch_size,
        wall_s=wall,
        images_per_s=done * batch_size / wall if wall > 0 else 0.0,
        memory={k: round(v, 4) for k, v in peaks.items()},
        memory_what=memory_what + ("; CUDA peaks read after every iteration" if tracker else ""),
        lr=parts["lr"],
        base_lr=parts["base_lr"],
        base_batch=parts["base_batch"],
        stopped_early=recorder.stopped,
        device=device,
        batch=batch_size,
        lr_rule=lr_rule,
        augmentation=augmentation,
        loss=loss,
        amp=parts["optim_wrapper"]["type"] == "AmpOptimWrapper",
        loss_curve=recorder.curve,
    )
