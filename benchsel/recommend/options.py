"""Options: the candidates as the recommender sees them, from measurements or published numbers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchsel.catalog import load_catalog
from benchsel.formatting import finite_or_none, json_safe, trial_label
from benchsel.store import TrialRecord
from benchsel.suite import Constraints
from benchsel.tasks import task_info, task_of_metric


@dataclass
class Option:
    """One candidate configuration (averaged over seeds), measured or from the prior."""

    id: str
    family: str
    variant: str = "default"
    loss: str | None = None
    basis: str = "measured"
    accuracy: float | None = None
    accuracy_metric: str = ""
    fps: float | None = None
    latency_ms: float | None = None
    infer_mem_gb: float | None = None
    train_mem_gb: float | None = None
    on_gpu: bool = False
    train_hours: float | None = None
    train_usd: float | None = None
    label_cost_usd: float | None = None
    labelled_images: float | None = None
    gflops: float | None = None
    params_m: float | None = None
    speed_basis: str = ""  # where fps / latency come from: device measured, or published setup
    seeds: int = 1
    measured_task: str = ""  # the task it was trained for (differs for cross-task options)
    pareto: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        name = trial_label(self.id, self.variant, self.loss)
        native = task_of_metric(self.accuracy_metric)
        if self.measured_task and native and self.measured_task != native:
            name += f" ({self.measured_task} model)"
        return name

    @property
    def cost_usd(self) -> float:
        return (self.label_cost_usd or 0.0) + (self.train_usd or 0.0)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = json_safe(asdict(self))
        return out


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _at_fraction(runs: list[TrialRecord], fraction: float) -> list[TrialRecord]:
    return [t for t in runs if t.data_fraction == fraction]


def measured_options(trials: Sequence[TrialRecord], task: str, c: Constraints) -> list[Option]:
    """One option per configuration, at the largest data fraction the user can afford
    (labelled images available), averaged over seeds. Models of richer tasks join with their
    score on this task (e.g. an instance model's box AP for detection)."""
    info = task_info(task)
    metric_of: dict[str, str] = {task: "accuracy", **dict(info.shared_by)}
    groups: dict[tuple[str, str, str | None, str], list[TrialRecord]] = defaultdict(list)
    for t in trials:
        if t.task in metric_of and t.status == "ok":
            groups[(t.arch_id, t.variant, t.loss, t.task)].append(t)
    options = []
    for (arch_id, variant, loss, measured_task), runs in groups.items():
        fractions = sorted({t.data_fraction for t in runs})
        usable = [
            f
            for f in fractions
            if c.labelled_images is None
            or (finite_or_none(_at_fraction(runs, f)[0].metrics.get("labelled_images")) or 0)
            <= c.labelled_images
        ]
        chosen = _at_fraction(runs, usable[-1] if usable else fractions[0])

        def avg(key: str, chosen: list[TrialRecord] = chosen) -> float | None:
            return _mean([finite_or_none(t.metrics.get(key)) for t in chosen])

        infer_mb, train_mb = avg("infer_peak_mem_mb"), avg("train_peak_mem_mb")
        options.append(
            Option(
                id=arch_id,
                family=chosen[0].family,
                variant=variant,
                loss=loss,
                accuracy=avg(metric_of[measured_task]),
                measured_task=measured_task,
                accuracy_metric=info.primary_metric,
                fps=avg("fps"),
                latency_ms=avg("latency_e2e_p50_ms"),
                speed_basis=_measured_speed_basis(chosen[0]),
                infer_mem_gb=infer_mb / 1024 if infer_mb is not None else None,
                train_mem_gb=train_mb / 1024 if train_mb is not None else None,
                on_gpu=str(chosen[0].conditions.get("device", "cpu")).startswith("cuda"),
                train_hours=avg("train_full_schedule_hours"),
                train_usd=avg("train_full_schedule_usd"),
                label_cost_usd=avg("label_cost_usd"),
                labelled_images=avg("labelled_images"),
                gflops=avg("gflops"),
                params_m=avg("params_m"),
                seeds=len(chosen),
            )
        )
    return options


def _measured_speed_basis(t: TrialRecord) -> str:
    speed = (t.conditions.get("speed") or [{}])[0]
    device = speed.get("device") or t.conditions.get("device", "?")
    return f"measured: {device}, batch 1, {speed.get('precision', 'fp32')}, end to end"


def prior_options(task: str) -> list[Option]:
    """Catalog entries for the task, with their published numbers as the accuracy estimate."""
    metric = task_info(task).primary_metric
    options = []
    for a in load_catalog().architectures:
        if task not in a.tasks:
            continue
        ref = a.reference
        acc = ref.metrics.get(metric)
        latency = ref.inference_ms
        options.append(
            Option(
                id=a.id,
                family=a.family,
                basis="prior",
                accuracy=acc / 100 if acc is not None else None,
                accuracy_metric=f"{metric} (published, {ref.dataset})",
                latency_ms=latency,
                fps=1000 / latency if latency else None,
                speed_basis=f"published: {ref.inference_conditions}" if latency else "unknown",
                gflops=a.measured.gflops if a.measured else None,
                params_m=a.measured.params_m if a.measured else None,
            )
        )
    return options
