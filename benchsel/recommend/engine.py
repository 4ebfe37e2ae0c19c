"""The decision: filter the options on the hard constraints, rank the rest, pick one.

A pure function of stored results, the catalog and the user's constraints. The words that
explain each decision come from :mod:`benchsel.recommend.explain`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchsel.catalog import load_catalog
from benchsel.recommend import explain
from benchsel.recommend.evidence import SIGNAL_FLOOR, Comparison, Samples, compare, resample_all
from benchsel.recommend.options import Option, measured_options, prior_options
from benchsel.recommend.prior import latency_limit_ms, prior_choice
from benchsel.store import TrialRecord
from benchsel.suite import Constraints, LabellingPrices
from benchsel.tasks import task_info


@dataclass
class Recommendation:
    task: str
    basis: str
    recommended: Option | None
    ranking: list[Option]
    rejected: list[Option]
    reasons: list[str]
    notes: list[str]
    constraints: Constraints
    verdict: str | None = None  # clear | tie | no_signal (None for the prior)
    tied_with: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        rec = self.recommended
        return {
            "task": self.task,
            "basis": self.basis,
            "verdict": self.verdict,
            "tied_with": self.tied_with,
            "recommended": None
            if rec is None
            else {
                "id": rec.id,
                "family": rec.family,
                "variant": rec.variant,
                "loss": rec.loss,
                "accuracy": rec.to_dict()["accuracy"],
                "accuracy_ci_low": rec.to_dict()["accuracy_ci_low"],
                "accuracy_ci_high": rec.to_dict()["accuracy_ci_high"],
                "metric": rec.accuracy_metric,
            },
            "reasons": self.reasons,
            "notes": self.notes,
            "ranking": [o.to_dict() for o in self.ranking],
            "rejected": [
                {"id": o.id, "name": o.name, "family": o.family, "reasons": o.reasons}
                for o in self.rejected
            ],
            "pareto": [o.name for o in self.ranking + self.rejected if o.pareto],
            "constraints": {"task": self.task, **self.constraints.model_dump()},
        }


def violations(o: Option, c: Constraints) -> list[str]:
    """Why ``o`` fails the hard constraints (empty when it meets them all)."""
    out = []
    if c.min_fps and o.fps is not None and o.fps < c.min_fps:
        out.append(explain.too_slow_fps(o.fps, c.min_fps))
    if c.max_latency_ms and o.latency_ms is not None and o.latency_ms > c.max_latency_ms:
        out.append(explain.too_slow_ms(o.latency_ms, c.max_latency_ms))
    if c.max_gpu_mem_gib and o.on_gpu:
        for what, mem in (("inference", o.infer_mem_gib), ("training", o.train_mem_gib)):
            if mem is not None and mem > c.max_gpu_mem_gib:
                out.append(explain.too_much_memory(what, mem, c.max_gpu_mem_gib))
    if c.gpu_budget_hours and o.gpu_hours is not None and o.gpu_hours > c.gpu_budget_hours:
        out.append(explain.too_many_hours(o.gpu_hours, c.gpu_budget_hours))
    if c.gpu_budget_usd and o.train_usd is not None and o.train_usd > c.gpu_budget_usd:
        out.append(explain.too_costly("full training costs", o.train_usd, c.gpu_budget_usd))
    if (
        c.label_budget_usd
        and o.label_cost_usd is not None
        and o.label_cost_usd > c.label_budget_usd
    ):
        out.append(explain.too_costly("its labels cost", o.label_cost_usd, c.label_budget_usd))
    if o.runtime_error is not None:
        out.append(o.runtime_error)
    if c.target_accuracy and o.accuracy is not None and o.accuracy < c.target_accuracy:
        out.append(explain.below_target(o.accuracy_metric, o.accuracy, c.target_accuracy))
    if o.accuracy is None:
        out.append(explain.NOT_MEASURED.format(metric=o.accuracy_metric or "accuracy"))
    return out


def unchecked(o: Option, c: Constraints) -> list[str]:
    """Constraints that could not be checked for ``o`` (missing measurements)."""
    out = []
    if latency_limit_ms(c) and o.fps is None and o.latency_ms is None and not o.runtime_error:
        where = "" if o.runtime == "pytorch" else f" on {o.runtime} (see measurement.runtimes)"
        out.append(f"speed not measured{where}")
    if c.max_gpu_mem_gib and not o.on_gpu:
        out.append("GPU memory not measured (measured on CPU)")
    if (c.gpu_budget_hours or c.gpu_budget_usd) and o.gpu_hours is None:
        out.append(
            "GPU training cost not measured"
            + (
                f" (trained on CPU: {o.cpu_hours:,.1f} CPU-hours for the full schedule)"
                if o.cpu_hours
                else ""
            )
        )
    return out


def _rank_key(o: Option) -> tuple[float, float, float]:
    return (-(o.accuracy or 0.0), o.gflops or math.inf, o.cost_usd)


def rank(options: list[Option]) -> list[Option]:
    """By mean accuracy (fewer GFLOPs, then lower cost, first among equal accuracies).

    Whether two options can be told apart is the verdict's business (see ``_decide``)."""
    return sorted(options, key=_rank_key)


def mark_pareto(options: list[Option]) -> None:
    """Pareto front: no other option is at least as accurate, as fast and as cheap, and better
    in one of them."""

    def dims(o: Option) -> tuple[float, float, float]:
        return (
            -(o.accuracy or 0.0),
            o.latency_ms if o.latency_ms is not None else math.inf,
            o.cost_usd,
        )

    for o in options:
        a = dims(o)
        o.pareto = not any(
            all(x <= y for x, y in zip(dims(p), a, strict=True)) and dims(p) != a
            for p in options
            if p is not o
        )


def recommend(
    trials: Sequence[TrialRecord] | None,
    task: str,
    constraints: Constraints | None = None,
    prices: LabellingPrices | None = None,
    gpu_hour_usd: float = 2.5,
    runtime: str = "pytorch",
) -> Recommendation:
    """Recommend an architecture for ``task`` from measured ``trials`` (or the prior); speed
    constraints apply to the numbers measured on ``runtime`` (pytorch or onnxruntime)."""
    c = constraints or Constraints()
    prices = prices or LabellingPrices()
    measured = measured_options(trials or [], task, c, runtime)
    if not measured:
        rec = _recommend_prior(task, c, gpu_hour_usd)
        if runtime != "pytorch":
            rec.notes.append(explain.prior_runtime(runtime))
        return rec
    metric = task_info(task).primary_metric
    notes: list[str] = []
    for o in measured:
        o.reasons = violations(o, c)
        missing = unchecked(o, c)
        if missing:
            notes.append(explain.not_checked(o, missing))
    mark_pareto(measured)
    feasible = rank([o for o in measured if not o.reasons])
    rejected = sorted(
        (o for o in measured if o.reasons), key=lambda o: (len(o.reasons), _rank_key(o))
    )
    cross = [o for o in measured if o.measured_task != task]
    if cross:
        notes.append(explain.cross_task(cross, metric))
    unmeasured = sorted(
        {a.family for a in load_catalog().architectures if task in a.tasks}
        - {o.family for o in measured}
    )
    if unmeasured:
        notes.append(explain.unmeasured_families(unmeasured, task))
    if runtime != "pytorch":
        notes.append(explain.runtime_basis(runtime, measured))
    if not feasible:
        reasons = [explain.nothing_qualifies(rejected)]
        return Recommendation(task, "measured", None, [], rejected, reasons, notes, c)
    verdict, best, tied, reasons = _decide(feasible, task)
    if best is None:
        return Recommendation(
            task, "measured", None, feasible, rejected, reasons, notes, c, verdict
        )
    feasible.remove(best)
    feasible.insert(0, best)
    if best.pareto:
        reasons.append(explain.ON_PARETO_FRONT)
    if task == "detection" and not c.need_pixel_masks:
        notes.append(explain.mask_note(c, prices, _objects_per_image(trials or [], best)))
    if task != "detection" and c.need_pixel_masks is False:
        notes.append(explain.boxes_are_enough(c, prices))
    return Recommendation(
        task, "measured", best, feasible, rejected, reasons, notes, c, verdict, tied
    )


def _has_signal(o: Option, samples: dict[str, Samples]) -> bool | None:
    """Whether ``o``'s accuracy interval clears an untrained model's score (None: no interval)."""
    chance = samples[o.name].chance if o.name in samples else 0.0
    if o.accuracy_ci_low is None:
        return None
    return o.accuracy_ci_low > chance + SIGNAL_FLOOR


def _compare(a: Option, b: Option, samples: dict[str, Samples]) -> Comparison | None:
    """a minus b on shared resamples; None when either has no per-image states."""
    if a.name in samples and b.name in samples:
        return compare(samples[a.name], samples[b.name])  # None: different image sets
    return None


def _clearly_better(a: Option, b: Option, cmp: Comparison | None) -> bool:
    if cmp is not None:
        return cmp.a_clearly_better
    # No per-image states (older results): only non-overlapping intervals separate them.
    return (
        a.accuracy_ci_low is not None
        and b.accuracy_ci_high is not None
        and (a.accuracy_ci_low > b.accuracy_ci_high)
    )


def _decide(feasible: list[Option], task: str) -> tuple[str, Option | None, list[str], list[str]]:
    """(verdict, pick, tied ids, reasons) from the evidence: ``no_signal`` when no candidate
    beats an untrained model, ``tie`` when the leader is not better than a rival beyond the
    uncertainty (the tie goes to the faster, cheaper one), else ``clear``."""
    samples = resample_all(
        {o.name: o.state_blobs for o in feasible}, {o.name: o.metric_key for o in feasible}
    )
    for o in feasible:
        if o.name in samples:
            o.accuracy_ci_low, o.accuracy_ci_high = samples[o.name].interval()
    signal = [o for o in feasible if _has_signal(o, samples) is not False]
    if not signal:
        for o in feasible:
            o.reasons = [explain.no_signal_option(o)]
        return "no_signal", None, [], explain.no_signal(feasible)
    native = [o for o in signal if o.measured_task == task]
    leader = (native or signal)[0]
    tied: list[Option] = []
    richer: list[Option] = []
    runner: tuple[Option, Comparison | None] | None = None
    for o in feasible:
        if o is leader:
            continue
        if o not in signal:
            o.reasons = [explain.no_signal_option(o)]
            continue
        if o.measured_task != task and (o.accuracy or 0) >= (leader.accuracy or 0):
            o.reasons = [explain.start_simple(o, leader)]
            richer.append(o)
            continue
        cmp = _compare(leader, o, samples)
        if _clearly_better(leader, o, cmp):
            o.reasons = [explain.less_accurate(o, leader, cmp)]
            runner = runner or (o, cmp)
        else:
            tied.append(o)
            o.reasons = [explain.indistinguishable(o, leader, cmp)]
    unknown = [o for o in signal if _has_signal(o, samples) is None]
    start_simple = [explain.richer_task_scores_higher(o, task) for o in richer[:1]]
    if not tied:
        reasons = [explain.winner(leader), *start_simple]
        if runner is not None:
            reasons.append(explain.clear_margin(leader, *runner))
        if unknown:
            reasons.append(explain.NO_INTERVALS)
        return "clear", leader, [], reasons
    group = [leader, *tied]
    best = min(group, key=_tie_break_key)
    for o in group:
        if o is not best:
            o.reasons = [explain.tie_lost(o, best)]
    reasons = [*explain.tie(group, best, leader), *start_simple]
    return "tie", best, [o.id for o in group if o is not best], reasons


def _tie_break_key(o: Option) -> tuple[float, float, float]:
    """Faster first, then cheaper (labels + training), then fewer FLOPs."""
    return (
        o.latency_ms if o.latency_ms is not None else math.inf,
        o.cost_usd,
        o.gflops if o.gflops is not None else math.inf,
    )


def _objects_per_image(trials: Sequence[TrialRecord], o: Option) -> float | None:
    for t in trials:
        if t.arch_id == o.id and t.status == "ok":
            units, images = t.metrics.get("label_units"), t.metrics.get("labelled_images")
            if units and images:
                return float(units) / float(images)
    return None


def _recommend_prior(task: str, c: Constraints, gpu_hour_usd: float) -> Recommendation:
    choice = prior_choice(task, c, gpu_hour_usd)
    options = prior_options(task)
    for o in options:
        o.reasons = list(choice.unmet.get(o.id, []))
    mark_pareto(options)
    best = next((o for o in options if choice.pick and o.id == choice.pick.id), None)
    rejected = sorted((o for o in options if o.reasons), key=_rank_key)
    feasible = rank([o for o in options if not o.reasons and o is not best])
    if best is not None:
        feasible.insert(0, best)
        for o in feasible[1:]:
            o.reasons = [explain.table_prefers(best)]
    reasons = [explain.prior_reason(task, r) for r in choice.reasons[:1]] + choice.reasons[1:]
    if choice.alternatives:
        reasons.append(explain.alternatives(choice.alternatives))
    return Recommendation(task, "prior", best, feasible, rejected, reasons, [explain.PRIOR], c)


def recommend_for_suite(trials: Sequence[TrialRecord], suite: Any) -> list[Recommendation]:
    """One recommendation per task the stored trials cover, with the suite's constraints."""
    tasks = sorted({t.task for t in trials})
    return [
        recommend(trials, task, suite.constraints, suite.labelling, suite.cost.gpu_hour_usd)
        for task in tasks
    ]
