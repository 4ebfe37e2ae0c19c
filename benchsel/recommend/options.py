"""Options: the candidates as the recommender sees them, from measurements or published numbers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchsel.catalog import load_catalog
from benchsel.formatting import finite_or_none, json_safe, trial_label
from benchsel.measure.uncertainty import STATE_OF_METRIC
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
    infer_mem_gib: float | None = None  # GPU reserved peak (measured on a GPU only)
    train_mem_gib: float | None = None
    on_gpu: bool = False
    gpu_hours: float | None = None  # full schedule, measured on a GPU
    cpu_hours: float | None = None  # full schedule, measured on the CPU
    train_usd: float | None = None
    label_cost_usd: float | None = None
    labelled_images: float | None = None
    gflops: float | None = None
    params_m: float | None = None
    speed_basis: str = ""  # where fps / latency come from: device measured, or published setup
    runtime: str = "pytorch"  # the runtime fps / latency were measured on
    runtime_error: str | None = None  # why the model cannot be deployed on that runtime
    seeds: int = 1
    accuracy_ci_low: float | None = None  # 95% bootstrap interval over val images
    accuracy_ci_high: float | None = None
    seed_min: float | None = None  # spread of the accuracy across seeds
    seed_max: float | None = None
    val_images: int | None = None
    measured_task: str = ""  # the task it was trained for (differs for cross-task options)
    pareto: bool = False
    reasons: list[str] = field(default_factory=list)
    # Evidence: per-seed evaluation states scoring ``metric_key`` (not part of the JSON).
    metric_key: str = field(default="", repr=False)
    state_blobs: list[bytes] = field(default_factory=list, repr=False)

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
        data = asdict(self)
        del data["state_blobs"], data["metric_key"]
        out: dict[str, Any] = json_safe(data)
        return out


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _at_fraction(runs: list[TrialRecord], fraction: float) -> list[TrialRecord]:
    return [t for t in runs if t.data_fraction == fraction]


def measured_options(
    trials: Sequence[TrialRecord], task: str, c: Constraints, runtime: str = "pytorch"
) -> list[Option]:
    """One option per configuration, at the largest data fraction the user can afford
    (labelled images available), averaged over seeds. Models of richer tasks join with their
    score on this task (e.g. an instance model's box AP for detection). Speed is the one
    measured on ``runtime`` (``onnxruntime``: the exported network, see the trial)."""
    speed = "" if runtime == "pytorch" else f"{runtime}_"
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

        key = metric_of[measured_task]
        metric_key = info.primary_metric if key == "accuracy" else key
        evaluation = STATE_OF_METRIC.get(metric_key, ("", ""))[0]
        blobs = [t.eval_states[evaluation] for t in chosen if evaluation in t.eval_states]
        seed_scores = [
            v for v in (finite_or_none(t.metrics.get(key)) for t in chosen) if v is not None
        ]
        options.append(
            Option(
                id=arch_id,
                family=chosen[0].family,
                variant=variant,
                loss=loss,
                accuracy=avg(key),
                accuracy_ci_low=avg(f"{key}_ci_low"),
                accuracy_ci_high=avg(f"{key}_ci_high"),
                seed_min=min(seed_scores) if seed_scores else None,
                seed_max=max(seed_scores) if seed_scores else None,
                val_images=_val_images(chosen[0]),
                metric_key=metric_key,
                state_blobs=blobs if len(blobs) == len(chosen) else [],
                measured_task=measured_task,
                accuracy_metric=info.primary_metric,
                fps=avg(f"{speed}fps"),
                latency_ms=avg(f"{speed}latency_e2e_p50_ms"),
                speed_basis=_measured_speed_basis(chosen[0], runtime),
                runtime=runtime,
                runtime_error=_runtime_error(chosen[0], runtime),
                infer_mem_gib=avg("infer_gpu_reserved_peak_gib"),
                train_mem_gib=avg("train_gpu_reserved_peak_gib"),
                on_gpu=str(chosen[0].conditions.get("device", "cpu")).startswith("cuda"),
                gpu_hours=avg("train_full_schedule_gpu_hours"),
                cpu_hours=avg("train_full_schedule_cpu_hours"),
                train_usd=avg("train_full_schedule_usd"),
                label_cost_usd=avg("label_cost_usd"),
                labelled_images=avg("labelled_images"),
                gflops=avg("gflops"),
                params_m=avg("params_m"),
                seeds=len(chosen),
            )
        )
    return options


def _val_images(t: TrialRecord) -> int | None:
    value = (t.conditions.get("accuracy") or {}).get("val_images")
    return int(value) if value is not None else None


def _measured_speed_basis(t: TrialRecord, runtime: str = "pytorch") -> str:
    if runtime != "pytorch":
        deployed = t.conditions.get(runtime) or {}
        device = deployed.get("device") or t.conditions.get("device", "?")
        return f"measured on {runtime}: {device}, batch 1, fp32, end to end"
    speed = (t.conditions.get("speed") or [{}])[0]
    device = speed.get("device") or t.conditions.get("device", "?")
    return f"measured: {device}, batch 1, {speed.get('precision', 'fp32')}, end to end"


def _runtime_error(t: TrialRecord, runtime: str) -> str | None:
    """Why ``t`` cannot be deployed on ``runtime`` (None: it can, or it was not tried): it
    does not export, or the exported model's accuracy disagrees with PyTorch's."""
    if runtime == "pytorch":
        return None
    deployed = t.conditions.get(runtime) or {}
    if deployed.get("export_error"):
        return f"it does not export to {runtime}: {deployed['export_error']}"
    agreement = str(deployed.get("agreement") or "")
    if agreement.upper().startswith("DISAGREE"):
        return f"its accuracy on {runtime} disagrees with PyTorch's: {agreement}"
    return None


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
