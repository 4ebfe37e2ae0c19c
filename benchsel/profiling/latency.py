"""Latency, throughput and memory of a model as a deployment pays them, phase by phase.

Measured with the trial's trained weights on real validation images at their own sizes,
through the architecture's test pipeline. The phases nest:
  preprocess   test pipeline (resize, pad, normalise) + data preprocessor + copy to the device
  forward      the network before its first post-processing step (``forward_network``;
               two-stage detectors: up to the proposals' NMS)
  predict      forward + post-processing (NMS, mask pasting) + conversion to canonical output
  postprocess  derived: predict p50 - forward p50; a negative value is kept and reported
  e2e          decode the image file + preprocess + predict: what a caller pays per image
Each timed call takes the next batch of images (cycling), so the spread covers the images.
Warm-up calls run first; then timed calls until both ``min_iters`` and ``min_seconds`` are met.
p90 needs at least 10 samples and p99 at least 100; with fewer they are omitted (NaN) and the
conditions say so. CUDA is timed with CUDA events after a synchronisation; CPU with
``time.perf_counter``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from benchsel.adapters.base import LoadedModel
from benchsel.profiling.environment import device_name
from benchsel.profiling.memory import PeakMemory

PHASES = ("preprocess", "forward", "predict", "e2e")
MIN_SAMPLES = {"p90": 10, "p99": 100}
WHAT_IS_TIMED = {
    "preprocess": "test pipeline + data preprocessor + host-to-device copy",
    "forward": "network before its first post-processing step",
    "predict": "forward + post-processing (NMS, mask pasting) + conversion",
    "postprocess": "derived: predict p50 - forward p50 (negative: reported, not clamped)",
    "e2e": "decode the image file + preprocess + predict",
}
ImageSource = np.ndarray | Path


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
        """Statistics of the samples; p90 / p99 are NaN below their minimum sample counts."""
        arr = np.asarray(samples_ms, dtype=float)
        mean = float(arr.mean())

        def tail(q: int, name: str) -> float:
            return float(np.percentile(arr, q)) if len(arr) >= MIN_SAMPLES[name] else math.nan

        return cls(
            p50_ms=float(np.percentile(arr, 50)),
            p90_ms=tail(90, "p90"),
            p99_ms=tail(99, "p99"),
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
    postprocess_p50_ms: float  # derived; negative means forward > predict (an inconsistency)
    memory: dict[str, float]  # PeakMemory values: cpu_mem_increase_mib or gpu_*_peak_gib
    conditions: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # a precision that failed (fp16) is recorded, not fatal

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


@contextlib.contextmanager
def _cudnn_benchmark(on: bool, on_cuda: bool) -> Iterator[None]:
    """Set cudnn.benchmark for the measurement and restore it afterwards."""
    import torch

    before = torch.backends.cudnn.benchmark
    if on_cuda:
        torch.backends.cudnn.benchmark = on
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _synthetic_images(model: LoadedModel, count: int, seed: int = 0) -> list[np.ndarray]:
    height, width = model.input_size
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def _batches(arrays: list[np.ndarray], batch: int) -> list[list[int]]:
    """Batches of image indices with equal sizes (mmseg batches one size only), every image
    used; a size group smaller than the batch repeats its images."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, a in enumerate(arrays):
        groups.setdefault(a.shape, []).append(i)
    out = []
    for idx in groups.values():
        for start in range(0, len(idx), batch):
            chunk = idx[start : start + batch]
            out.append([chunk[k % len(chunk)] for k in range(batch)])
    return out


def measure_speed(
    model: LoadedModel,
    settings: SpeedSettings,
    images: Sequence[ImageSource] | None = None,
    timer: Timer | None = None,
    memory_baseline_mib: float | None = None,
) -> list[SpeedResult]:
    """Time every phase for each batch size and precision (fp16 needs CUDA: skipped on CPU).

    ``images`` are files (decoded inside the e2e phase) or decoded RGB arrays; without them,
    synthetic noise at the model's input size is timed and the conditions say so.
    """
    import torch

    from benchsel.data.images import read_rgb

    device = model.device
    on_cuda = device.startswith("cuda")
    if settings.threads is not None and not on_cuda:
        torch.set_num_threads(settings.threads)
    timer = timer or (CudaEventTimer(device) if on_cuda else PerfCounterTimer())
    if images is None:
        sources: list[ImageSource] = list(_synthetic_images(model, max(settings.batch_sizes)))
        described = f"synthetic noise at {model.input_size[0]}x{model.input_size[1]}"
    else:
        sources = list(images)
        files = sum(isinstance(s, Path) for s in sources)
        described = f"{len(sources)} validation images at their own sizes" + (
            ", decoded from file in e2e" if files else ""
        )
    arrays = [read_rgb(s) if isinstance(s, Path) else s for s in sources]
    results = []
    with _cudnn_benchmark(settings.cudnn_benchmark, on_cuda):
        for precision in settings.precisions:
            if precision == "fp16" and not on_cuda:
                continue
            for batch in settings.batch_sizes:
                try:
                    result = _measure_one(
                        model,
                        settings,
                        sources,
                        arrays,
                        batch,
                        precision,
                        timer,
                        memory_baseline_mib,
                    )
                except Exception as exc:
                    if precision == "fp32":
                        raise
                    # fp16 failing (an op without a half kernel, an overflow) must not
                    # throw away the fp32, training and accuracy results.
                    error = f"{type(exc).__name__}: {exc}"
                    result = SpeedResult(batch, precision, {}, math.nan, {}, {}, error)
                result.conditions["images"] = described
                results.append(result)
    return results


def _cycle(items: list[Any]) -> Callable[[], Any]:
    state = {"i": -1}

    def next_item() -> Any:
        state["i"] = (state["i"] + 1) % len(items)
        return items[state["i"]]

    return next_item


def _measure_one(
    model: LoadedModel,
    settings: SpeedSettings,
    sources: list[ImageSource],
    arrays: list[np.ndarray],
    batch: int,
    precision: str,
    timer: Timer,
    memory_baseline_mib: float | None,
) -> SpeedResult:
    import torch

    from benchsel.data.images import read_rgb

    index_batches = _batches(arrays, batch)
    array_batches = [[arrays[i] for i in b] for b in index_batches]
    source_batches = [[sources[i] for i in b] for b in index_batches]

    def decode(batch_sources: list[ImageSource]) -> list[np.ndarray]:
        return [read_rgb(s) if isinstance(s, Path) else s for s in batch_sources]

    phases: dict[str, TimingStats] = {}
    with (
        torch.no_grad(),
        _precision(precision, model.device),
        PeakMemory(model.device, memory_baseline_mib) as mem,
    ):
        prepared = [model.preprocess(b) for b in array_batches]
        next_arrays, next_prepared, next_sources = (
            _cycle(array_batches),
            _cycle(prepared),
            _cycle(source_batches),
        )
        calls: dict[str, Callable[[], Any]] = {
            "preprocess": lambda: model.preprocess(next_arrays()),
            "forward": lambda: model.forward_network(next_prepared()),
            "predict": lambda: model.postprocess(next_prepared()),
            "e2e": lambda: model.postprocess(model.preprocess(decode(next_sources()))),
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
    postprocess = phases["predict"].p50_ms - phases["forward"].p50_ms
    inconsistencies = []
    if postprocess < 0:
        inconsistencies.append(
            f"forward p50 {phases['forward'].p50_ms:.2f} ms > predict p50 "
            f"{phases['predict'].p50_ms:.2f} ms: the derived postprocess is negative"
        )
    nested = phases["preprocess"].p50_ms + phases["predict"].p50_ms
    if nested > phases["e2e"].p50_ms:
        inconsistencies.append(
            f"preprocess + predict p50 {nested:.2f} ms > e2e p50 {phases['e2e'].p50_ms:.2f} ms"
        )
    omitted = [
        f"{name} omitted: {phases['e2e'].iters} samples, needs {n}"
        for name, n in MIN_SAMPLES.items()
        if phases["e2e"].iters < n
    ]
    height, width = model.input_size
    on_cuda = model.device.startswith("cuda")
    conditions = {
        "device": device_name(model.device),
        "batch": batch,
        "input_size": [height, width],
        "resize": f"test pipeline of the architecture, scaled to {height}x{width}",
        "precision": precision,
        "timer": "CUDA events" if on_cuda else "time.perf_counter",
        "threads": torch.get_num_threads(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark) if on_cuda else None,
        "warmup_iters": settings.warmup_iters,
        "what_is_timed": WHAT_IS_TIMED | {"forward": model.forward_description},
        "percentiles": "; ".join(omitted) if omitted else "all reported",
        "inconsistencies": inconsistencies,
        "memory": mem.what,
    }
    return SpeedResult(
        batch=batch,
        precision=precision,
        phases=phases,
        postprocess_p50_ms=postprocess,
        memory={k: round(v, 4) for k, v in mem.values.items()},
        conditions=conditions,
    )


def speed_metrics(results: Sequence[SpeedResult]) -> dict[str, float]:
    """Flat metric names with units: batch-1 latencies per phase, throughput per batch size."""
    out: dict[str, float] = {}
    for r in results:
        if r.error is not None:
            continue
        suffix = "" if r.precision == "fp32" else f"_{r.precision}"
        if r.batch == 1:
            for phase, st in r.phases.items():
                out[f"latency_{phase}_p50_ms{suffix}"] = st.p50_ms
                out[f"latency_{phase}_p90_ms{suffix}"] = st.p90_ms
                out[f"latency_{phase}_p99_ms{suffix}"] = st.p99_ms
                out[f"latency_{phase}_mean_ms{suffix}"] = st.mean_ms
                out[f"latency_{phase}_std_ms{suffix}"] = st.std_ms
            out[f"latency_postprocess_p50_ms{suffix}"] = r.postprocess_p50_ms
            # Batch-1 fps from the median, the statistic the latency constraint reads too;
            # throughput (below) is batch / mean, what a stream of batches sustains.
            p50 = r.phases["e2e"].p50_ms
            out[f"fps{suffix}"] = 1000.0 / p50 if p50 > 0 else float("inf")
            for key, value in r.memory.items():
                out[f"infer_{key}{suffix}"] = value
        out[f"throughput_fps_b{r.batch}{suffix}"] = r.phases["e2e"].fps
        for key, value in r.memory.items():
            out[f"infer_{key}_b{r.batch}{suffix}"] = value
    return out
