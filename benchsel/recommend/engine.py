"""The decision: filter the options on the hard constraints, rank the rest, pick one.

A pure function of stored results, the catalog and the user's constraints: options
(:mod:`.options`) -> constraints checked here -> the verdict (:mod:`.verdict`), or a labelling
route (:mod:`.routes`) when only more labels would reach the target, or the prior
(:mod:`.prior`) before anything is measured. The words come from :mod:`.explain` and
:mod:`.explain_verdict`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from benchsel.catalog import load_catalog
from benchsel.recommend import explain
from benchsel.recommend.explain_verdict import pick_score
from benchsel.recommend.inputs import RecommendationInputs, recommendation_inputs
from benchsel.recommend.options import Option, measured_options, prior_options
from benchsel.recommend.prior import latency_limit_ms, prior_choice
from benchsel.recommend.recommendation import Recommendation
from benchsel.recommend.routes import label_routes, route_recommendation
from benchsel.recommend.verdict import decide
from benchsel.store import TrialRecord
from benchsel.suite import Constraints, LabellingPrices, Suite
from benchsel.tasks import task_info


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

    Whether two options can be told apart is the verdict's business (:func:`.verdict.decide`)."""
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
    routes = label_routes(trials or [], task, c, prices, measured) if c.target_accuracy else {}
    if not feasible and routes:
        return route_recommendation(task, c, measured, routes, notes)
    if routes:
        notes.append(explain.routes_note(routes, c))
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
    decision = decide(feasible, task, c.margin)
    best, reasons = decision.best, decision.reasons
    if best is None:
        return Recommendation(
            task,
            "measured",
            None,
            feasible,
            rejected,
            reasons,
            notes,
            c,
            decision.verdict,
            evidence=decision.evidence,
        )
    feasible.remove(best)
    feasible.insert(0, best)
    reasons.append(pick_score(best))
    if best.pareto:
        reasons.append(explain.ON_PARETO_FRONT)
    if task == "detection" and not c.need_pixel_masks:
        notes.append(explain.mask_note(c, prices, _objects_per_image(trials or [], best)))
    if task != "detection" and c.need_pixel_masks is False:
        notes.append(explain.boxes_are_enough(c, prices))
    return Recommendation(
        task,
        "measured",
        best,
        feasible,
        rejected,
        reasons,
        notes,
        c,
        decision.verdict,
        decision.tied,
        decision.evidence,
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


def recommend_with(
    trials: Sequence[TrialRecord] | None, task: str, inputs: RecommendationInputs
) -> Recommendation:
    """:func:`recommend` under ``inputs`` (see :func:`.inputs.recommendation_inputs`)."""
    return recommend(
        trials, task, inputs.constraints, inputs.prices, inputs.gpu_hour_usd, inputs.runtime
    )


def recommend_each_task(
    trials: Sequence[TrialRecord], inputs: RecommendationInputs
) -> list[Recommendation]:
    """One recommendation per task the trials cover (failed ones included), in task order."""
    return [recommend_with(trials, task, inputs) for task in sorted({t.task for t in trials})]


def recommend_for_suite(trials: Sequence[TrialRecord], suite: Suite) -> list[Recommendation]:
    """One recommendation per task the stored trials cover, under the suite's inputs."""
    return recommend_each_task(trials, recommendation_inputs(suite))
