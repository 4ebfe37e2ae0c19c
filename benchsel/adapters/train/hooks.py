"""mmengine hooks benchsel adds to a training run (kept behind the adapter seam).

- ``LossRecorder``: records the loss curve, publishes progress, enforces the wall-clock cap.
- ``StageSwitch``: a stock config's late-training pipeline switch, at the same budget fraction.
- ``ValCurve``: scores the model being trained a few times, for the validation curve.
- ``CudaMemoryTracker``: the running peak of CUDA memory, read after every iteration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _hook_base() -> type:
    from mmengine.hooks import Hook

    return Hook


class LossRecorder(_hook_base()):  # type: ignore[misc]
    """Records the training losses and enforces the wall-clock cap."""

    priority = "VERY_LOW"

    def __init__(self, max_minutes: float | None, progress: Path | None, total: int) -> None:
        self.max_seconds = max_minutes * 60 if max_minutes else None
        self.progress, self.total = progress, total
        self.start = time.perf_counter()
        self.curve: list[dict[str, float]] = []
        self.iterations = 0
        self.stopped = False

    def before_train(self, runner: Any) -> None:
        self.start = time.perf_counter()

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        self.iterations = runner.iter + 1
        if outputs:
            point = {"iter": float(self.iterations)}
            for key, value in outputs.items():
                if key.rsplit(".", 1)[-1].startswith("loss"):  # loss, decode.loss_ce, ...
                    point[key] = float(value.item() if hasattr(value, "item") else value)
            self.curve.append(point)
            if self.progress is not None and (self.iterations % 5 == 0 or self.iterations == 1):
                _write_progress(self.progress, self.iterations, self.total, point.get("loss"))
        if self.max_seconds and time.perf_counter() - self.start > self.max_seconds:
            self.stopped = True
            runner.train_loop.stop_training = True


def _write_progress(path: Path, done: int, total: int, loss: float | None) -> None:
    """Atomically publish training progress for the driver's progress bar."""
    import json
    import os

    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"iter": done, "total": total, "loss": loss}))
    os.replace(tmp, path)


class StageSwitch(_hook_base()):  # type: ignore[misc]
    """A stock config's late-training switch at an iteration (``training.stage_switch``)."""

    def __init__(
        self,
        iter: int,
        pipeline: list[dict[str, Any]] | None = None,
        skip_types: list[str] | None = None,
        use_l1: bool = False,
    ) -> None:
        self.at, self.pipeline, self.skip_types, self.use_l1 = iter, pipeline, skip_types, use_l1
        self.done = False

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        if self.done or runner.iter < self.at:
            return
        from mmcv.transforms import Compose
        from mmengine.runner.loops import _InfiniteDataloaderIterator

        loader = runner.train_dataloader
        if self.pipeline is not None:
            loader.dataset.pipeline = Compose(self.pipeline)
        if self.skip_types is not None:
            loader.dataset.update_skip_type_keys(self.skip_types)
        if self.use_l1:
            model = runner.model.module if hasattr(runner.model, "module") else runner.model
            model.bbox_head.use_l1 = True
        if loader.num_workers > 0:  # workers hold a copy of the old pipeline: restart them
            loader._iterator = None
            runner.train_loop.dataloader_iterator = _InfiniteDataloaderIterator(loader)
        runner.logger.info(f"benchsel: late-training stage switch at iteration {runner.iter}")
        self.done = True


class ValCurve(_hook_base()):  # type: ignore[misc]
    """Scores the model ``points`` times during training (not after the last iteration).

    ``score`` runs in eval mode (BN running statistics, the test pipeline, no batch
    augmentation) and returns the metric to record; the model goes back to training mode
    afterwards. A point scores the weights as they stand after that optimizer step: mid-schedule,
    at a higher learning rate than the final weights and, with a stage switch, possibly before
    it. Each point says so, since a short from-scratch run can score near 0 there and well
    above 0 at the end. Keys of a point:

    - ``iter`` and the metric: the optimizer steps done and the score.
    - ``of_iters``, ``lr``: the run's length and the learning rate of that step.
    - ``weights``: ``"training (iteration i of n)"``; the final score's weights are the last.
    - ``stage``: ``"before stage switch at k"`` / ``"after stage switch at k"`` when the run
      has a ``StageSwitch``.
    - ``val_images``: how many val images were scored, when the caller says (``val_images``).
    """

    priority = "LOW"

    def __init__(
        self,
        model: Any,
        every: int,
        metric: str,
        score: Callable[[], float],
        val_images: int | None = None,
    ) -> None:
        self.model, self.every, self.metric, self.score = model, every, metric, score
        self.val_images = val_images
        self.curve: list[dict[str, float | str]] = []
        self.seconds = 0.0  # spent scoring, not training: excluded from training throughput

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        it = runner.iter + 1
        if self.every and it % self.every == 0 and it < runner.max_iters:
            start = time.perf_counter()
            self.model.eval()
            try:
                value = self.score()
            finally:
                self.model.train()
                self.seconds += time.perf_counter() - start
            self.curve.append({"iter": float(it), self.metric: value, **self._label(runner, it)})

    def _label(self, runner: Any, it: int) -> dict[str, float | str]:
        """What the point scored: which weights, at which learning rate and stage, how many
        images."""
        total = int(runner.max_iters)
        label: dict[str, float | str] = {
            "of_iters": float(total),
            "weights": f"training (iteration {it} of {total})",
        }
        lr = _current_lr(runner)
        if lr is not None:
            label["lr"] = lr
        switch = next((h for h in getattr(runner, "hooks", []) if isinstance(h, StageSwitch)), None)
        if switch is not None:
            label["stage"] = f"{'after' if switch.done else 'before'} stage switch at {switch.at}"
        if self.val_images is not None:
            label["val_images"] = float(self.val_images)
        return label


def _current_lr(runner: Any) -> float | None:
    """The learning rate of the first parameter group, or None when the runner has none."""
    try:
        return float(runner.optim_wrapper.get_lr()["lr"][0])
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


class CudaMemoryTracker(_hook_base()):  # type: ignore[misc]
    """Running peak of CUDA memory over every training iteration.

    mmengine's log processor calls ``torch.cuda.reset_peak_memory_stats()`` at each log
    interval, so one read after training sees only the last few iterations. This hook reads
    the peaks after every iteration, before the logger (its priority is higher) resets them.
    """

    priority = "ABOVE_NORMAL"

    def __init__(self, device: str) -> None:
        self.device = device
        self.alloc_bytes = 0
        self.reserved_bytes = 0

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        import torch

        self.alloc_bytes = max(self.alloc_bytes, torch.cuda.max_memory_allocated(self.device))
        self.reserved_bytes = max(self.reserved_bytes, torch.cuda.max_memory_reserved(self.device))
