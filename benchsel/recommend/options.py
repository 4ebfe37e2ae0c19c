"""Options: the candidates as the recommender sees them, from measurements or published numbers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchsel.catalog import load_catalog
from benchsel.evaluation.bootstrap import STATE_OF_METRIC
from benchsel.formatting import finite_or_none, json_safe, trial_label
from benchsel.store import TrialRecord
from benchsel.suite import Constraints
from benchsel.tasks import task_info, task_of_metric


@dataclass
class Option:
    """One candidate configuration (averaged over seeds), measured or from the prior."""

    id: str
    family: str
    label: str = ""  # the candidate's name (default: id, variant, loss)
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
    seeds: int = 1  # seeds that finished ok (and count in the evidence)
    seeds_planned: int = 1  # seeds run, failed ones included
    accuracy_ci_low: float | None = None  # 95% interval (images, and seeds when measured)
    accuracy_ci_high: float | None = None
    deploy_accuracy: float | None = None  # scored at the deployment size (None: same size)
    deploy_size: list[int] | None = None
    test_accuracy: float | None = None  # on the held-out test split (None: no test split)
    test_accuracy_ci_low: float | None = None
    test_accuracy_ci_high: float | None = None
    budget: dict[str, Any] = field(default_factory=dict)  # iterations, batch, wall-clock stop
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
        name = self.label or trial_label(self.id, self.variant, self.loss)
        native = task_of_metric(self.accuracy_metric)
        if self.measured_task and native and self.measured_task != native:
            name += f" ({self.measured_task} model)"
        return name

    @property
    def cost_usd(self) -> float:
        return (self.label_cost_usd or 0.0) + (self.train_usd or 0.0)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["state_blobs"], data["metric_key"], data["label"]
        data = {"name": self.name, **data}
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
    groups: dict[tuple[str, str], list[TrialRecord]] = defaultdict(list)
    planned: dict[tuple[str, str, float], int] = defaultdict(int)
    for t in trials:
        if t.task in metric_of:
            planned[(t.option, t.task, t.data_fraction)] += 1
            if t.status == "ok":
                groups[(t.option, t.task)].append(t)
    options = []
    for (label, measured_task), runs in groups.items():
        arch_id, variant, loss = runs[0].arch_id, runs[0].variant, runs[0].loss
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
        latency = avg(f"{speed}latency_e2e_p50_ms")
        deployed_at = (chosen[0].conditions.get("deploy_accuracy") or {}).get("input_size")
        options.append(
            Option(
                id=arch_id,
                family=chosen[0].family,
                label=label,
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
                # One statistic for both speed constraints: the median (p50) latency.
                fps=1000.0 / latency if latency else None,
                latency_ms=latency,
                deploy_accuracy=avg("deploy_accuracy") if deployed_at else None,
                deploy_size=list(deployed_at) if deployed_at else None,
                test_accuracy=avg(f"test_{key}"),
                test_accuracy_ci_low=avg(f"test_{key}_ci_low"),
                test_accuracy_ci_high=avg(f"test_{key}_ci_high"),
                budget=_budget(chosen),
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
                seeds_planned=planned[(label, measured_task, chosen[0].data_fraction)],
            )
        )
    return options


def _budget(runs: list[TrialRecord]) -> dict[str, Any]:
    """The training budget an option's trials had: iterations, batch, images seen, and whether
    a wall-clock cap stopped any of them early."""
    training = runs[0].spec.get("training") or {}
    iters = [finite_or_none(t.metrics.get("train_iters")) for t in runs]
    batch = training.get("batch_size")
    done = [int(i) for i in iters if i is not None]
    stopped = any(
        bool((t.conditions.get("training") or {}).get("stopped_by_wall_clock")) for t in runs
    )
    return {
        "iterations": max(done) if done else training.get("iterations"),
        "epochs": training.get("epochs"),
        "batch_size": batch,
        "images_seen": max(done) * batch if done and batch else None,
        "stopped_by_wall_clock": stopped,
        "checkpoint": bool(runs[0].spec.get("checkpoint")),
    }


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
    does not export (a documented limit), its measurement failed (an error, never read as a
    limit), or the exported model's accuracy disagrees with PyTorch's."""
    from benchsel.store.failures import failure_of, runtime_disagreement

    if runtime == "pytorch":
        return None
    failure = failure_of(t.conditions, runtime)
    if failure is not None and failure.unsupported:
        return f"it does not export to {runtime}: {failure.message}"
    if failure is not None:
        name = "ONNX Runtime" if runtime == "onnxruntime" else runtime
        return f"{name} measurement failed: {failure.summary()}"
    disagreement = runtime_disagreement(t.conditions.get(runtime) or {})
    if disagreement is not None:
        return f"its accuracy on {runtime} disagrees with PyTorch's: {disagreement}"
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
