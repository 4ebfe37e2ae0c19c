"""The words of a recommendation, part one: why an option fails or was not checked on a
constraint, the notes beside a pick (other tasks, unmeasured families, label prices), the prior's
reasons, labelling routes to a target, and the constraints themselves. The words of a verdict
are in :mod:`benchsel.recommend.explain_verdict`; keeping both out of the engine leaves it a
readable sequence of decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchsel.suite import Constraints, LabellingPrices
from benchsel.tasks import task_info

if TYPE_CHECKING:
    from benchsel.recommend.curve_fit import ImagesNeeded
    from benchsel.recommend.options import Option


NOT_MEASURED = "no {metric} was measured"
ON_PARETO_FRONT = "It is on the Pareto front of accuracy, latency and cost."
PRIOR = (
    "This is a prior from OpenMMLab's published COCO/Cityscapes numbers and a decision table, "
    "not a measurement on your data: run `benchsel run` to measure."
)


def too_slow_fps(fps: float, required: float) -> str:
    return f"{fps:.1f} fps < {required:g} fps required"


def too_slow_ms(ms: float, allowed: float) -> str:
    return f"{ms:.1f} ms > {allowed:g} ms allowed"


def too_much_memory(what: str, gib: float, allowed: float) -> str:
    return f"{what} needs {gib:.1f} GiB > {allowed:g} GiB of GPU memory"


def too_many_hours(hours: float, allowed: float) -> str:
    return f"full training needs {hours:.1f} GPU-hours > {allowed:g}"


def too_costly(what: str, usd: float, allowed: float) -> str:
    return f"{what} ${usd:,.0f} > ${allowed:,.0f}"


def below_target(metric: str, value: float, target: float) -> str:
    return f"{metric} {value:.3f} < target {target:g}"


def runtime_basis(runtime: str, options: list[Option]) -> str:
    """How speeds are judged when deploying on ``runtime``."""
    deployed = sum(o.latency_ms is not None for o in options)
    return (
        f"Speed constraints are checked against {runtime} latencies (the exported network, "
        f"post-processing on the host), measured for {deployed} of {len(options)} options; "
        "accuracy is PyTorch's, and a model whose deployed accuracy disagrees with it is rejected."
    )


def prior_runtime(runtime: str) -> str:
    return (
        f"No {runtime} numbers without results: published speeds are PyTorch's. "
        f"Run a suite with measurement.runtimes: [pytorch, {runtime}] to check deployed speed."
    )


def not_checked(o: Option, missing: list[str]) -> str:
    return f"{o.name}: not checked: {', '.join(missing)}"


def cross_task(options: list[Option], metric: str) -> str:
    return (
        f"{', '.join(o.name for o in options)}: trained for a richer task, compared here on "
        f"{metric} (shared ground)"
    )


def unmeasured_families(families: Sequence[str], task: str) -> str:
    return (
        f"not measured on your data: {', '.join(families)} families "
        f"(run them to compare; `benchsel list --task {task}`)"
    )


def nothing_qualifies(rejected: list[Option]) -> str:
    closest = ", ".join(f"{o.name} ({'; '.join(o.reasons)})" for o in rejected[:3])
    return f"No measured candidate meets all constraints. Closest: {closest}."


def table_prefers(best: Option) -> str:
    return f"the decision table prefers {best.id} for these constraints"


def prior_reason(task: str, why: str) -> str:
    return f"Prior (no measurements on your data for {task}): {why}."


def alternatives(ids: list[str]) -> str:
    return f"Alternatives to measure: {', '.join(ids)}."


def mask_note(c: Constraints, prices: LabellingPrices, objects_per_image: float | None) -> str:
    """What pixel masks would add to the labelling bill, compared with boxes."""
    per_image = objects_per_image or 1.0
    box = prices.box.typical * per_image
    mask = prices.instance_mask.typical * per_image
    pixel = prices.pixel_mask.typical
    n = c.labelled_images or 1000
    low, high = sorted(((mask - box) * n, (pixel - box) * n))
    return (
        f"Boxes are the cheapest labels: about ${box:.2f} per image here "
        f"({per_image:.1f} objects x ${prices.box.typical:.2f}). Instance masks would cost "
        f"${mask:.2f} per image and full pixel masks ${pixel:.2f}, i.e. "
        f"${low:,.0f} to ${high:,.0f} more for {n:,} images. "
        "Choose segmentation only if pixel-accurate outlines change a decision downstream."
    )


def boxes_are_enough(c: Constraints, prices: LabellingPrices) -> str:
    return (
        "You said boxes are enough: a detection model is simpler and its labels cheaper; "
        "run the detection candidates (`benchsel recommend --task detection`). "
        f"{mask_note(c, prices, None)}"
    )


def describe(task: str, c: Constraints) -> list[str]:
    """The constraints in words."""
    out = [f"task: {task}"]
    if c.min_fps:
        out.append(f"at least {c.min_fps:g} fps (batch 1, end to end)")
    if c.max_latency_ms:
        out.append(f"at most {c.max_latency_ms:g} ms latency (batch 1, end to end)")
    if c.max_gpu_mem_gib:
        out.append(f"at most {c.max_gpu_mem_gib:g} GiB of GPU memory (training and inference)")
    if c.gpu_budget_hours:
        out.append(f"training budget {c.gpu_budget_hours:g} GPU-hours")
    if c.gpu_budget_usd:
        out.append(f"training budget ${c.gpu_budget_usd:,.0f}")
    if c.label_budget_usd:
        out.append(f"labelling budget ${c.label_budget_usd:,.0f}")
    if c.labelled_images:
        out.append(f"{c.labelled_images:,} labelled images available")
    if c.target_accuracy:
        out.append(f"target {task_info(task).primary_metric} >= {c.target_accuracy:g}")
    if c.domain != "general":
        out.append(f"domain: {c.domain}")
    if c.need_pixel_masks is not None:
        out.append("pixel masks needed" if c.need_pixel_masks else "boxes are enough")
    return out


def _images(need: ImagesNeeded) -> str:
    band = (
        f" [{need.low:,.0f}, {need.high:,.0f}]"
        if need.low is not None and need.high is not None
        else (f" [{need.low:,.0f}, no upper end]" if need.low is not None else "")
    )
    return f"about {need.images:,.0f} images{band}"


def _more_labels(need: ImagesNeeded) -> str:
    cost = need.cost_usd or {}
    if "typical" not in cost:
        return "labelling cost unknown"
    return (
        f"${cost['typical']:,.0f} more labels (${cost.get('low', 0):,.0f} to "
        f"${cost.get('high', 0):,.0f})"
    )


def route(o: Option, need: ImagesNeeded, c: Constraints) -> str:
    return (
        f"{o.accuracy_metric} {o.accuracy:.3f} now; its learning curve reaches "
        f"{c.target_accuracy:g} at {_images(need)}, {_more_labels(need)}"
        + (f" ({need.extrapolation:.1f}x the largest measured size)" if need.extrapolation else "")
    )


def cheapest_route(best: Option, need: ImagesNeeded, c: Constraints) -> str:
    return (
        f"No candidate reaches {best.accuracy_metric} {c.target_accuracy:g} with the labels "
        f"measured; on the learning curves, {best.name} reaches it at {_images(need)}, "
        f"{_more_labels(need)}: the cheapest route that meets every other constraint. This rests "
        "on a forecast (see `benchsel forecast`), not a measurement."
    )


def other_routes(options: list[Option], routes: dict[str, ImagesNeeded]) -> list[str]:
    if not options:
        return []
    return [
        "Other routes: "
        + "; ".join(
            f"{o.name} at {_images(routes[o.name])}, {_more_labels(routes[o.name])}"
            for o in options[:4]
        )
        + "."
    ]


def routes_note(routes: dict[str, ImagesNeeded], c: Constraints) -> str:
    return (
        f"Below the target {c.target_accuracy:g} now but forecast to reach it with more labels: "
        + "; ".join(f"{name} at {_images(need)}" for name, need in routes.items())
    )
