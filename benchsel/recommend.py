"""Recommendation: a pure function of stored results, the catalog and the user's constraints.

Measured results come first: filter on the hard constraints, rank what is left by accuracy on
the user's data (near-ties go to the cheaper, simpler model), mark the Pareto front of
accuracy, latency and cost, and explain every decision. Without measurements for the task, a
prior from the catalog's published numbers and a decision table answers, labelled as a prior.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from benchsel.catalog import Architecture, load_catalog
from benchsel.store import TrialRecord
from benchsel.suite import LabellingPrices

TIE_TOLERANCE = 0.005  # accuracies this close rank as equal; the cheaper model wins
LIMITED_GPU_MEM_GB = 8.0
LIMITED_GPU_HOURS = 24.0
LIMITED_DATA_IMAGES = 1000
PRIMARY = {"detection": "bbox_AP", "instance": "segm_AP", "semantic": "mIoU", "panoptic": "PQ"}
# Segmentation models also score the simpler tasks (shared ground): task -> [(their task, metric)]
CROSS_TASK = {
    "detection": [("instance", "bbox_AP"), ("panoptic", "bbox_AP")],
    "instance": [("panoptic", "segm_AP")],
    "semantic": [("panoptic", "semantic_mIoU")],
    "panoptic": [],
}


@dataclass
class Constraints:
    """What the user needs. Latency and fps are batch 1, end to end, on the measured device."""

    task: str
    min_fps: float | None = None
    max_latency_ms: float | None = None
    max_gpu_mem_gb: float | None = None
    gpu_budget_hours: float | None = None
    gpu_budget_usd: float | None = None
    label_budget_usd: float | None = None
    images: int | None = None  # labelled images available
    target_accuracy: float | None = None
    domain: str = "general"
    need_pixel_masks: bool | None = None

    def latency_limit_ms(self) -> float | None:
        limits = [
            x for x in (self.max_latency_ms, 1000.0 / self.min_fps if self.min_fps else None) if x
        ]
        return min(limits) if limits else None

    def describe(self) -> list[str]:
        out = [f"task: {self.task}"]
        if self.min_fps:
            out.append(f"at least {self.min_fps:g} fps (batch 1, end to end)")
        if self.max_latency_ms:
            out.append(f"at most {self.max_latency_ms:g} ms latency (batch 1, end to end)")
        if self.max_gpu_mem_gb:
            out.append(f"at most {self.max_gpu_mem_gb:g} GB of GPU memory (training and inference)")
        if self.gpu_budget_hours:
            out.append(f"training budget {self.gpu_budget_hours:g} GPU-hours")
        if self.gpu_budget_usd:
            out.append(f"training budget ${self.gpu_budget_usd:,.0f}")
        if self.label_budget_usd:
            out.append(f"labelling budget ${self.label_budget_usd:,.0f}")
        if self.images:
            out.append(f"{self.images:,} labelled images available")
        if self.target_accuracy:
            out.append(f"target {PRIMARY[self.task]} >= {self.target_accuracy:g}")
        if self.domain != "general":
            out.append(f"domain: {self.domain}")
        if self.need_pixel_masks is not None:
            out.append("pixel masks needed" if self.need_pixel_masks else "boxes are enough")
        return out


@dataclass
class Option:
    """One candidate as the engine sees it (a configuration, averaged over seeds)."""

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
    seeds: int = 1
    measured_task: str = ""  # the task it was trained for (differs for cross-task options)
    pareto: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        extras = [x for x in (None if self.variant == "default" else self.variant, self.loss) if x]
        name = self.id + (f" [{', '.join(extras)}]" if extras else "")
        native = {v: k for k, v in PRIMARY.items()}.get(self.accuracy_metric)
        if self.measured_task and native and self.measured_task != native:
            name += f" ({self.measured_task} model)"
        return name

    @property
    def cost_usd(self) -> float:
        return (self.label_cost_usd or 0.0) + (self.train_usd or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


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

    def to_dict(self) -> dict[str, Any]:
        rec = self.recommended
        return {
            "task": self.task,
            "basis": self.basis,
            "recommended": None
            if rec is None
            else {
                "id": rec.id,
                "family": rec.family,
                "variant": rec.variant,
                "loss": rec.loss,
                "accuracy": rec.to_dict()["accuracy"],
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
            "constraints": asdict(self.constraints),
        }


# ---------------------------------------------------------------- measured options


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def measured_options(trials: Sequence[TrialRecord], c: Constraints) -> list[Option]:
    """One option per configuration, at the largest data fraction the user can afford
    (labelled images available), averaged over seeds. Models of richer tasks join with their
    score on this task (e.g. an instance model's box AP for detection)."""
    metric_of = {c.task: "accuracy", **dict(CROSS_TASK[c.task])}
    groups: dict[tuple[str, str, str | None, str], list[TrialRecord]] = defaultdict(list)
    for t in trials:
        if t.task in metric_of and t.status == "ok":
            groups[(t.arch_id, t.variant, t.loss, t.task)].append(t)
    options = []
    for (arch_id, variant, loss, task), runs in groups.items():
        score_key = metric_of[task]
        fractions = sorted({t.data_fraction for t in runs})
        usable = [
            f
            for f in fractions
            if c.images is None
            or (_finite(_pick(runs, f)[0].metrics.get("labelled_images")) or 0) <= c.images
        ]
        fraction = usable[-1] if usable else fractions[0]
        chosen = _pick(runs, fraction)

        def avg(key: str, chosen: list[TrialRecord] = chosen) -> float | None:
            return _mean([_finite(t.metrics.get(key)) for t in chosen])

        on_gpu = str(chosen[0].conditions.get("device", "cpu")).startswith("cuda")
        infer_mb, train_mb = avg("infer_peak_mem_mb"), avg("train_peak_mem_mb")
        options.append(
            Option(
                id=arch_id,
                family=chosen[0].family,
                variant=variant,
                loss=loss,
                accuracy=avg(score_key),
                measured_task=task,
                accuracy_metric=PRIMARY[c.task],
                fps=avg("fps"),
                latency_ms=avg("latency_e2e_p50_ms"),
                infer_mem_gb=infer_mb / 1024 if infer_mb is not None else None,
                train_mem_gb=train_mb / 1024 if train_mb is not None else None,
                on_gpu=on_gpu,
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


def _pick(runs: list[TrialRecord], fraction: float) -> list[TrialRecord]:
    return [t for t in runs if t.data_fraction == fraction]


# ---------------------------------------------------------------- constraints and ranking


def violations(o: Option, c: Constraints) -> list[str]:
    """Why ``o`` fails the hard constraints (empty when it meets them all)."""
    out = []
    if c.min_fps and o.fps is not None and o.fps < c.min_fps:
        out.append(f"{o.fps:.1f} fps < {c.min_fps:g} fps required")
    if c.max_latency_ms and o.latency_ms is not None and o.latency_ms > c.max_latency_ms:
        out.append(f"{o.latency_ms:.1f} ms > {c.max_latency_ms:g} ms allowed")
    if c.max_gpu_mem_gb and o.on_gpu:
        for what, mem in (("inference", o.infer_mem_gb), ("training", o.train_mem_gb)):
            if mem is not None and mem > c.max_gpu_mem_gb:
                out.append(f"{what} needs {mem:.1f} GB > {c.max_gpu_mem_gb:g} GB of GPU memory")
    if c.gpu_budget_hours and o.train_hours is not None and o.train_hours > c.gpu_budget_hours:
        out.append(f"full training needs {o.train_hours:.1f} GPU-hours > {c.gpu_budget_hours:g}")
    if c.gpu_budget_usd and o.train_usd is not None and o.train_usd > c.gpu_budget_usd:
        out.append(f"full training costs ${o.train_usd:,.0f} > ${c.gpu_budget_usd:,.0f}")
    if (
        c.label_budget_usd
        and o.label_cost_usd is not None
        and o.label_cost_usd > c.label_budget_usd
    ):
        out.append(f"its labels cost ${o.label_cost_usd:,.0f} > ${c.label_budget_usd:,.0f}")
    if c.target_accuracy and o.accuracy is not None and o.accuracy < c.target_accuracy:
        out.append(f"{o.accuracy_metric} {o.accuracy:.3f} < target {c.target_accuracy:g}")
    if o.accuracy is None:
        out.append(f"no {o.accuracy_metric or 'accuracy'} was measured")
    return out


def unchecked(o: Option, c: Constraints) -> list[str]:
    """Constraints that could not be checked for ``o`` (missing measurements)."""
    out = []
    if c.latency_limit_ms() and o.fps is None and o.latency_ms is None:
        out.append("speed not measured")
    if c.max_gpu_mem_gb and not o.on_gpu:
        out.append("GPU memory not measured (measured on CPU)")
    if (c.gpu_budget_hours or c.gpu_budget_usd) and o.train_hours is None:
        out.append("training cost not measured")
    return out


def _rank_key(o: Option) -> tuple[float, float, float]:
    return (-(o.accuracy or 0.0), o.gflops or math.inf, o.cost_usd)


def rank(options: list[Option]) -> list[Option]:
    """By accuracy; options within TIE_TOLERANCE of each other go cheapest (GFLOPs) first."""
    ordered = sorted(options, key=_rank_key)
    out: list[Option] = []
    while ordered:
        best = ordered[0].accuracy or 0.0
        tied = [o for o in ordered if best - (o.accuracy or 0.0) <= TIE_TOLERANCE]
        tied.sort(key=lambda o: (o.gflops or math.inf, o.cost_usd, -(o.accuracy or 0.0)))
        out.extend(tied)
        ordered = [o for o in ordered if o not in tied]
    return out


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


# ---------------------------------------------------------------- the prior


def _yolo_smallest(catalog: Sequence[Architecture], task: str) -> Architecture:
    yolo = [a for a in catalog if a.family == "yolo" and task in a.tasks]
    return min(yolo, key=lambda a: a.measured.gflops if a.measured else math.inf)


def _yolo_best(catalog: Sequence[Architecture], task: str) -> Architecture:
    yolo = [a for a in catalog if a.family == "yolo" and task in a.tasks]
    return max(yolo, key=lambda a: a.reference.metrics.get(PRIMARY[task], 0.0))


def prior_choice(c: Constraints) -> tuple[str, list[str], list[str]]:
    """(architecture id, reasons, alternatives) from the decision table."""
    archs = load_catalog().architectures
    limited_gpu = bool(
        (c.max_gpu_mem_gb and c.max_gpu_mem_gb <= LIMITED_GPU_MEM_GB)
        or (c.gpu_budget_hours and c.gpu_budget_hours <= LIMITED_GPU_HOURS)
        or c.gpu_budget_usd
    )
    limit = c.latency_limit_ms()
    realtime = limit is not None and limit <= 1000 / 30 + 1e-9
    limited_data = c.images is not None and c.images <= LIMITED_DATA_IMAGES
    if c.domain == "medical" and (limited_data or c.task == "semantic"):
        return (
            "unet-s5-d16",
            [
                "medical imaging with limited data: U-Net with strong augmentation "
                "(set training.augmentation: strong); its skip connections keep fine boundaries "
                "and it trains well from few images",
            ],
            ["fcn-r50", "deeplabv3plus-r50"],
        )
    if limited_gpu and c.task in ("detection", "instance"):
        small = _yolo_smallest(archs, c.task)
        return (
            small.id,
            [
                "limited GPU budget: the smallest YOLO-family model "
                f"({small.id}, {small.measured.gflops if small.measured else '?'} GFLOPs; "
                "EfficientDet or YOLOv8-small in common use)",
            ],
            [a.id for a in archs if a.family == "yolo" and c.task in a.tasks and a is not small],
        )
    if realtime and c.task in ("detection", "instance"):
        best = _yolo_best(archs, c.task)
        return (
            best.id,
            [
                f"real-time inference (> 30 fps): the YOLO family (YOLOv8 in common use; here "
                f"RTMDet / YOLOX); {best.id} has the best published accuracy of the family",
            ],
            ["rtmdet-tiny", "yolox-s", "yolox-tiny"],
        )
    if c.task == "panoptic":
        pick = "panoptic-fpn-r50" if (realtime or limited_gpu) else "mask2former-r50-panoptic"
        return (
            pick,
            [
                "panoptic segmentation: Panoptic-FPN or Mask2Former "
                + (
                    "(Panoptic-FPN: lighter under your speed or budget limits)"
                    if pick == "panoptic-fpn-r50"
                    else "(Mask2Former: higher published PQ, 52.0 vs 40.2)"
                ),
            ],
            ["panoptic-fpn-r50" if pick != "panoptic-fpn-r50" else "mask2former-r50-panoptic"],
        )
    if c.task == "instance":
        pick = "mask-rcnn-r50" if (realtime or limited_gpu) else "mask2former-r50"
        return (
            pick,
            [
                "instance segmentation: Mask R-CNN or Mask2Former "
                + (
                    "(Mask R-CNN: the established, lighter choice)"
                    if pick == "mask-rcnn-r50"
                    else "(Mask2Former: higher published mask AP, 42.9 vs 34.7)"
                ),
            ],
            ["mask-rcnn-r50" if pick != "mask-rcnn-r50" else "mask2former-r50"],
        )
    if c.task == "detection":
        return (
            "dino-5scale-swin-l",
            [
                "highest accuracy with no latency constraint: DINO with a Swin-L backbone "
                "(57.2 box AP published on COCO)",
            ],
            ["dino-4scale-r50", "rtmdet-s"],
        )
    best = max(
        (a for a in archs if "semantic" in a.tasks),
        key=lambda a: a.reference.metrics.get("mIoU", 0.0),
    )
    return (
        best.id,
        [
            f"semantic segmentation: {best.id} has the best published mIoU "
            f"({best.reference.metrics.get('mIoU')} on {best.reference.dataset})",
        ],
        ["deeplabv3plus-r50", "unet-s5-d16"],
    )


def prior_options(c: Constraints) -> list[Option]:
    """Catalog entries for the task, with their published numbers as the accuracy estimate."""
    options = []
    for a in load_catalog().architectures:
        if c.task not in a.tasks:
            continue
        ref = a.reference
        acc = ref.metrics.get(PRIMARY[c.task])
        latency = ref.inference_ms
        options.append(
            Option(
                id=a.id,
                family=a.family,
                basis="prior",
                accuracy=acc / 100 if acc is not None else None,
                accuracy_metric=f"{PRIMARY[c.task]} (published, {ref.dataset})",
                latency_ms=latency,
                fps=1000 / latency if latency else None,
                gflops=a.measured.gflops if a.measured else None,
                params_m=a.measured.params_m if a.measured else None,
            )
        )
    return options


# ---------------------------------------------------------------- the engine


def _mask_note(c: Constraints, prices: LabellingPrices, objects_per_image: float | None) -> str:
    per_image = objects_per_image or 1.0
    box = prices.box.typical * per_image
    mask = prices.instance_mask.typical * per_image
    pixel = prices.pixel_mask.typical
    n = c.images or 1000
    return (
        f"Boxes are the cheapest labels: about ${box:.2f} per image here "
        f"({per_image:.1f} objects x ${prices.box.typical:.2f}). Instance masks would cost "
        f"${mask:.2f} per image and full pixel masks ${pixel:.2f}, i.e. "
        f"${(mask - box) * n:,.0f} to ${(pixel - box) * n:,.0f} more for {n:,} images. "
        "Choose segmentation only if pixel-accurate outlines change a decision downstream."
    )


def recommend(
    trials: Sequence[TrialRecord] | None,
    constraints: Constraints,
    prices: LabellingPrices | None = None,
) -> Recommendation:
    """Recommend an architecture for ``constraints`` from measured ``trials`` (or the prior)."""
    c = constraints
    prices = prices or LabellingPrices()
    measured = measured_options(trials or [], c)
    notes: list[str] = []
    if not measured:
        return _recommend_prior(c, notes)

    for o in measured:
        o.reasons = violations(o, c)
        missing = unchecked(o, c)
        if missing:
            notes.append(f"{o.name}: not checked: {', '.join(missing)}")
    mark_pareto(measured)
    feasible = rank([o for o in measured if not o.reasons])
    rejected = sorted(
        (o for o in measured if o.reasons), key=lambda o: (len(o.reasons), _rank_key(o))
    )
    unmeasured = sorted(
        {a.family for a in load_catalog().architectures if c.task in a.tasks}
        - {o.family for o in measured}
    )
    cross = [o for o in measured if o.measured_task != c.task]
    if cross:
        notes.append(
            f"{', '.join(o.name for o in cross)}: trained for a richer task, compared here on "
            f"{PRIMARY[c.task]} (shared ground)"
        )
    if unmeasured:
        notes.append(
            f"not measured on your data: {', '.join(unmeasured)} families "
            f"(run them to compare; `benchsel list --task {c.task}`)"
        )
    reasons: list[str] = []
    if not feasible:
        closest = ", ".join(f"{o.name} ({'; '.join(o.reasons)})" for o in rejected[:3])
        reasons.append(f"No measured candidate meets all constraints. Closest: {closest}.")
        return Recommendation(c.task, "measured", None, [], rejected, reasons, notes, c)
    native = [o for o in feasible if o.measured_task == c.task]
    best = native[0] if native else feasible[0]
    if best is not feasible[0]:  # start simple: a model of the task itself meets the need
        feasible.remove(best)
        feasible.insert(0, best)
    metric = best.accuracy_metric
    reasons.append(
        f"{best.name} has the highest {metric} on your data among the candidates that meet "
        f"every constraint: {best.accuracy:.3f}"
        + (f", at {best.fps:.1f} fps" if best.fps else "")
        + (f", {best.gflops:.1f} GFLOPs" if best.gflops else "")
        + "."
    )
    if len(feasible) > 1:
        runner = feasible[1]
        gap = (best.accuracy or 0) - (runner.accuracy or 0)
        if runner.measured_task != c.task and gap < 0:
            reasons.append(
                f"{runner.name} scores higher ({runner.accuracy:.3f}) but needs "
                f"{runner.measured_task} labels; a {c.task} model meets the need, so start simple."
            )
        elif gap <= TIE_TOLERANCE:
            reasons.append(
                f"{runner.name} is as accurate ({runner.accuracy:.3f}); {best.name} wins "
                "as the simpler, cheaper model."
            )
        else:
            reasons.append(f"Runner-up: {runner.name} ({runner.accuracy:.3f}, {gap:.3f} lower).")
    for o in feasible[1:]:
        if o.measured_task != c.task and (o.accuracy or 0) >= (best.accuracy or 0):
            o.reasons = [
                f"{metric} {o.accuracy:.3f}, but it needs {o.measured_task} labels "
                f"(${o.label_cost_usd or 0:,.0f} here vs ${best.label_cost_usd or 0:,.0f}) and "
                f"{best.name} already meets every constraint: start simple"
            ]
        elif (best.accuracy or 0) - (o.accuracy or 0) > TIE_TOLERANCE:
            o.reasons = [f"{metric} {o.accuracy:.3f} < {best.accuracy:.3f} of {best.name}"]
        else:
            o.reasons = [f"as accurate as {best.name} but costlier"]
    if best.pareto:
        reasons.append("It is on the Pareto front of accuracy, latency and cost.")
    if c.task == "detection" and not c.need_pixel_masks:
        per_image = _objects_per_image(trials or [], best)
        notes.append(_mask_note(c, prices, per_image))
    if c.task in ("instance", "semantic", "panoptic") and c.need_pixel_masks is False:
        notes.append(
            "You said boxes are enough: a detection model is simpler and its labels cheaper; "
            f"run the detection candidates (`benchsel recommend --task detection`). "
            f"{_mask_note(c, prices, None)}"
        )
    return Recommendation(c.task, "measured", best, feasible, rejected, reasons, notes, c)


def _objects_per_image(trials: Sequence[TrialRecord], o: Option) -> float | None:
    for t in trials:
        if t.arch_id == o.id and t.status == "ok":
            units, images = t.metrics.get("label_units"), t.metrics.get("labelled_images")
            if units and images:
                return float(units) / float(images)
    return None


def _recommend_prior(c: Constraints, notes: list[str]) -> Recommendation:
    pick, reasons, alternatives = prior_choice(c)
    options = prior_options(c)
    by_id = {o.id: o for o in options}
    for o in options:
        o.reasons = [r for r in violations(o, c) if not r.startswith("no ")]
    mark_pareto(options)
    best = by_id[pick]
    feasible = [best] + [o for o in rank([o for o in options if not o.reasons and o is not best])]
    rejected = [o for o in options if o.reasons and o is not best]
    for o in feasible[1:]:
        o.reasons = [f"the decision table prefers {best.id} for these constraints"]
    reasons = [f"Prior (no measurements on your data for {c.task}): " + reasons[0] + "."]
    if alternatives:
        reasons.append(f"Alternatives to measure: {', '.join(alternatives)}.")
    notes.append(
        "This is a prior from OpenMMLab's published COCO/Cityscapes numbers and a "
        "decision table, not a measurement on your data: run `benchsel run` to "
        "measure."
    )
    return Recommendation(c.task, "prior", best, feasible, rejected, reasons, notes, c)


def constraints_from_suite(suite_constraints: Any, task: str) -> Constraints:
    """The suite's constraints section for one task."""
    sc = suite_constraints
    return Constraints(
        task=task,
        min_fps=sc.min_fps,
        max_latency_ms=sc.max_latency_ms,
        max_gpu_mem_gb=sc.max_gpu_mem_gb,
        gpu_budget_hours=sc.gpu_budget_hours,
        gpu_budget_usd=sc.gpu_budget_usd,
        label_budget_usd=sc.label_budget_usd,
        images=sc.labelled_images,
        target_accuracy=sc.target_accuracy,
        domain=sc.domain,
        need_pixel_masks=sc.need_pixel_masks,
    )


def render_text(rec: Recommendation) -> str:
    """The recommendation as terminal text."""
    lines = []
    head = rec.recommended.name if rec.recommended else "nothing meets the constraints"
    lines.append(f"[{rec.task}] recommended: {head} (basis: {rec.basis})")
    lines.append("  constraints: " + "; ".join(rec.constraints.describe()))
    lines += [f"  why: {r}" for r in rec.reasons]
    for o in rec.ranking[1:6]:
        lines.append(f"  - {o.name}: {'; '.join(o.reasons)}")
    for o in rec.rejected[:8]:
        lines.append(f"  x {o.name}: {'; '.join(o.reasons)}")
    lines += [f"  note: {n}" for n in rec.notes]
    return "\n".join(lines)
