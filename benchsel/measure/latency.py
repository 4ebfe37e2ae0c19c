"""Latency, throughput and peak memory of a model, phase by phase.

What is timed (stated next to every number):
  preprocess   test pipeline (resize, pad, normalise) + data preprocessor + copy to the device
  forward      the network forward (``mode='tensor'``), no post-processing
  predict      forward + the model's own post-processing (NMS, mask pasting), ``mode='predict'``
  postprocess  derived: predict p50 - forward p50 (not timed on its own)
  e2e          preprocess + predict + conversion to canonical predictions: what a user's
               application pays per call
Warm-up iterations run first; then timed iterations until both ``min_iters`` and
``min_seconds`` are reached. CUDA is timed with CUDA events around each iteration (after a
synchronisation); CPU with ``time.perf_counter``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from benchsel.adapters.base import LoadedModel
from benchsel.measure.environment import device_name
from benchsel.measure.memory import PeakMemory

PHASES = ("preprocess", "forward", "predict", "e2e")
WHAT_IS_TIMED = {
    "preprocess": "test pipeline + data preprocessor + host-to-device copy",
    "forward": "network forward (mode='tensor'), no post-processing",
    "predict": "forward + post-processing (NMS, mask pasting), mode='predict'",
    "postprocess": "derived: predict p50 - forward p50",
    "e2e": "preprocess + predict + conversion to canonical predictions",
}


class Timer(Protocol):
    """Times one call of ``fn`` in milliseconds."""

    def __call__(self, fn: Callable[[], Any]) -> float: ...


class PerfCounterTimer:
    """Wall-clock timer for CPU work (optionally synchronising a CUDA device)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock

    def __call__(self, fn: Callable[[], Any]) -> float:
        start = self.clock()
        fn()
        return (self.clock() - start) * 1000.0


class CudaEventTimer:
    """GPU timer: CUDA events recorded around the call, after a synchronisation."""

    def __init__(self, device: str, torch_module: Any = None) -> None:
        if torch_module is None:
            import torch as torch_module
        self.torch, self.device = torch_module, device

    def __call__(self, fn: Callable[[], Any]) -> float:
        torch = self.torch
        torch.cuda.synchronize(self.device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))


@dataclass
class TimingStats:
    """Per-iteration latency statistics of one phase (ms), and the implied frames per second."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    iters: int
    fps: float

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float], batch: int) -> TimingStats:
        arr = np.asarray(samples_ms, dtype=float)
        mean = float(arr.mean())
        return cls(
            p50_ms=float(np.percentile(arr, 50)),
            p90_ms=float(np.percentile(arr, 90)),
            p99_ms=float(np.percentile(arr, 99)),
            mean_ms=mean,
            std_ms=float(arr.std()),
            iters=len(arr),
            fps=batch * 1000.0 / mean if mean > 0 else float("inf"),
        )


def time_loop(
    fn: Callable[[], Any],
    timer: Timer,
    *,
    warmup: int,
    min_iters: int,
    min_seconds: float,
    max_iters: int = 100_000,
) -> list[float]:
    """Per-iteration times (ms) after ``warmup`` untimed calls, until both minimums are met."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    total_ms = 0.0
    while len(samples) < max_iters and (
        len(samples) < min_iters or total_ms < min_seconds * 1000.0
    ):
        ms = timer(fn)
        samples.append(ms)
        total_ms += ms
    return samples


@dataclass
class SpeedSettings:
    batch_sizes: Sequence[int] = (1, 8)
    precisions: Sequence[str] = ("fp32",)
    warmup_iters: int = 5
    min_iters: int = 20
    min_seconds: float = 2.0
    threads: int | None = None
    cudnn_benchmark: bool = True


@dataclass
class SpeedResult:
    """All phases of one (batch, precision) measurement with its conditions."""

    batch: int
    precision: str
    phases: dict[str, TimingStats]
    postprocess_p50_ms: float
    peak_mem_mb: float
    conditions: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _precision(precision: str, device: str) -> Iterator[None]:
    import torch

    if precision == "fp16":
        with torch.autocast(device_type="cuda", dtype=torch.float16):
            yield
    else:
        yield


def _sample_images(model: LoadedModel, count: int, seed: int = 0) -> list[np.ndarray]:
    height, width = model.input_size
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def measure_speed(
    model: LoadedModel,
    settings: SpeedSettings,
    images: Sequence[np.ndarray] | None = None,
    timer: Timer | None = None,
) -> list[SpeedResult]:
    """Time every phase for each batch size and precision; fp16 needs CUDA (skipped on CPU)."""
    import torch

    device = model.device
    on_cuda = device.startswith("cuda")
    if settings.threads is not None and not on_cuda:
        torch.set_num_threads(settings.threads)
    if on_cuda:
        torch.backends.cudnn.benchmark = settings.cudnn_benchmark
    timer = timer or (CudaEventTimer(device) if on_cuda else PerfCounterTimer())
    results = []
    for precision in settings.precisions:
        if precision == "fp16" and not on_cuda:
            continue
        for batch in settings.batch_sizes:
            pool = list(images) if images is not None else _sample_images(model, batch)
            batch_images = [pool[i % len(pool)] for i in range(batch)]
            results.append(_measure_one(model, settings, batch_images, precision, timer))
    return results


def _measure_one(
    model: LoadedModel,
    settings: SpeedSettings,
    images: list[np.ndarray],
    precision: str,
    timer: Timer,
) -> SpeedResult:
    import torch

    batch = len(images)
    phases: dict[str, TimingStats] = {}
    with torch.no_grad(), _precision(precision, model.device), PeakMemory(model.device) as mem:
        prepared = model.preprocess(images)
        calls: dict[str, Callable[[], Any]] = {
            "preprocess": lambda: model.preprocess(images),
            "forward": lambda: model.forward_tensor(prepared),
            "predict": lambda: model.postprocess(prepared),
            "e2e": lambda: model.postprocess(model.preprocess(images)),
        }
        for phase in PHASES:
            samples = time_loop(
                calls[phase],
                timer,
                warmup=settings.warmup_iters,
                min_iters=settings.min_iters,
                min_seconds=settings.min_seconds,
            )
            phases[phase] = TimingStats.from_samples(samples, batch)
    height, width = model.input_size
    conditions = {
        "device": device_name(model.device),
        "batch": batch,
        "input_size": [height, width],
        "precision": precision,
        "timer": "CUDA events" if model.device.startswith("cuda") else "time.perf_counter",
        "threads": torch.get_num_threads(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)
        if model.device.startswith("cuda")
        else None,
        "warmup_iters": settings.warmup_iters,
        "what_is_timed": WHAT_IS_TIMED,
        "memory": mem.what,
    }
    return SpeedResult(
        batch=batch,
        precision=precision,
        phases=phases,
        postprocess_p50_ms=max(0.0, phases["predict"].p50_ms - phases["forward"].p50_ms),
        peak_mem_mb=round(mem.peak_mb, 1),
        conditions=conditions,
    )


def speed_metrics(results: Sequence[SpeedResult]) -> dict[str, float]:
    """Flat metric names with units: batch-1 latencies per phase, throughput per batch size."""
    out: dict[str, float] = {}
    for r in results:
        suffix = "" if r.precision == "fp32" else f"_{r.precision}"
        if r.batch == 1:
            for phase, st in r.phases.items():
                out[f"latency_{phase}_p50_ms{suffix}"] = st.p50_ms
                out[f"latency_{phase}_p90_ms{suffix}"] = st.p90_ms
                out[f"latency_{phase}_p99_ms{suffix}"] = st.p99_ms
                out[f"latency_{phase}_mean_ms{suffix}"] = st.mean_ms
                out[f"latency_{phase}_std_ms{suffix}"] = st.std_ms
            out[f"latency_postprocess_p50_ms{suffix}"] = r.postprocess_p50_ms
            out[f"fps{suffix}"] = r.phases["e2e"].fps
            out[f"infer_peak_mem_mb{suffix}"] = r.peak_mem_mb
        out[f"throughput_fps_b{r.batch}{suffix}"] = r.phases["e2e"].fps
        out[f"infer_peak_mem_mb_b{r.batch}{suffix}"] = r.peak_mem_mb
    return out
