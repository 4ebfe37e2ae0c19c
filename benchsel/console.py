"""All terminal rendering: the catalog, data checks, labelling cost, FLOPs, scores, a run's
progress and results table, recommendations and forecasts. Commands in ``benchsel.cli``
compute; these functions print, or return the lines to print."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from benchsel.store import TrialRecord
from benchsel.tasks import PRIMARY_METRIC

if TYPE_CHECKING:
    from benchsel.catalog import Architecture, Catalog
    from benchsel.data.labelling import LabelCost
    from benchsel.data.types import Issues
    from benchsel.evaluation.label_issues import LabelIssue
    from benchsel.pipeline.plan import TrialSpec
    from benchsel.pipeline.trial import TrialOutcome
    from benchsel.profiling.complexity import Complexity
    from benchsel.recommend.curve_fit import CurveFit
    from benchsel.recommend.forecast import CurveAnswer
    from benchsel.recommend.recommendation import Recommendation

MAX_LISTED = 30


class RunProgress:
    """Two bars: trials of the suite, and iterations of the trial being trained."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.trials = self.progress.add_task("trials", total=0, note="")
        self.iters = self.progress.add_task("training", total=1, note="", visible=False)

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def plan(self, specs: list[TrialSpec], todo: list[TrialSpec]) -> None:
        skipped = len(specs) - len(todo)
        self.progress.update(  # a race plans once a round: each round counts afresh
            self.trials,
            total=len(todo),
            completed=0,
            note=f"({skipped} already stored)" if skipped else "",
        )

    def start(self, spec: TrialSpec) -> None:
        self.progress.update(
            self.iters,
            description=escape(spec.label),
            completed=0,
            total=1,
            visible=True,
            note="building",
        )

    def step(self, spec: TrialSpec, progress: dict[str, Any]) -> None:
        loss = progress.get("loss")
        note = f"loss {loss:.3f}" if isinstance(loss, int | float) else ""
        self.progress.update(
            self.iters, completed=progress.get("iter", 0), total=progress.get("total", 1), note=note
        )

    def done(self, spec: TrialSpec, outcome: TrialOutcome) -> None:
        self.progress.advance(self.trials)
        metric = PRIMARY_METRIC[spec.task]
        if outcome.status == "ok":
            value = outcome.metrics.get(metric)
            shown = f"{value:.3f}" if isinstance(value, float) and math.isfinite(value) else "-"
            self.console.print(
                f"[green]ok[/green] {escape(spec.label)} ({spec.task}) "
                f"{metric} {shown} in {outcome.wall_s:.0f} s"
            )
        else:
            first = (outcome.error or "").strip().splitlines()[:1]
            self.console.print(
                f"[red]{outcome.status}[/red] {escape(spec.label)}: "
                f"{escape(first[0] if first else '')}"
            )


def fixed_decimals(value: Any, digits: int = 3) -> str:
    """A finite number with ``digits`` decimals whatever its size (a table column lines up);
    ``-`` for anything else. The report writes by magnitude instead (see
    :func:`benchsel.report.cells.magnitude_decimals`)."""
    if isinstance(value, int | float) and math.isfinite(value):
        return f"{value:.{digits}f}"
    return "-"


def summary_table(trials: list[TrialRecord]) -> Table:
    """One row per trial: accuracy on its task, speed, size and cost."""
    table = Table(title="benchsel results")
    for col in (
        "trial",
        "task",
        "status",
        "accuracy",
        "latency p50 ms",
        "fps",
        "GFLOPs",
        "params M",
        "train s",
        "label $",
    ):
        table.add_column(col, justify="left" if col in ("trial", "task", "status") else "right")
    for t in sorted(trials, key=lambda r: (r.task, -(r.metrics.get("accuracy") or -1))):
        metric = PRIMARY_METRIC.get(t.task, "accuracy")
        label = t.label
        m = t.metrics
        status = "[green]ok[/green]" if t.status == "ok" else f"[red]{t.status}[/red]"
        table.add_row(
            escape(label),
            t.task,
            status,
            f"{metric} {fixed_decimals(m.get('accuracy'))}" if t.status == "ok" else "-",
            fixed_decimals(m.get("latency_e2e_p50_ms"), 1),
            fixed_decimals(m.get("fps"), 1),
            fixed_decimals(m.get("gflops"), 2),
            fixed_decimals(m.get("params_m"), 2),
            fixed_decimals(m.get("train_wall_s"), 0),
            fixed_decimals(m.get("label_cost_usd"), 0),
        )
    return table


def catalog_table(entries: list[Architecture], catalog: Catalog) -> None:
    """The architecture catalog as a table, and what is not available and why.

    An id is what a user types next, so it is never cut: at a narrow width (80 columns, or no
    terminal) the least important columns go first, and the rest wrap.
    """
    console = Console()
    columns = (
        "id",
        "family",
        "backbone",
        "tasks",
        "package",
        "input (HxW)",
        "published",
        "variants",
    )
    drop_order = ("variants", "published", "package", "input (HxW)", "backbone", "family", "tasks")
    rows = []
    for a in entries:
        published = ", ".join(f"{k} {v:g}" for k, v in a.reference.metrics.items())
        cells = (
            a.id,
            a.family,
            a.backbone,
            ", ".join(a.tasks),
            a.package,
            f"{a.input_size[0]}x{a.input_size[1]}",
            f"{published} ({a.reference.dataset})",
            ", ".join(a.variants) or "-",
        )
        rows.append(dict(zip(columns, cells, strict=True)))

    def min_width(col: str) -> int:  # its longest word, plus the cell padding and a border
        words = [w for text in (col, *(r[col] for r in rows)) for w in text.split()]
        return max(map(len, words)) + 3

    keep = list(columns)
    for col in drop_order:
        if sum(min_width(c) for c in keep) + 1 <= console.width:
            break
        keep.remove(col)
    table = Table(title=f"benchsel catalog ({len(entries)} architectures)")
    for col in keep:
        table.add_column(col, no_wrap=col == "id", overflow="fold")
    for row in rows:
        table.add_row(*(row[c] for c in keep))
    console.print(table)
    left_out = [c for c in columns if c not in keep]
    if left_out:
        console.print(
            f"[dim]Left out at {console.width} columns: {', '.join(left_out)} "
            "(`benchsel list --json` has every field).[/dim]"
        )
    for group in catalog.unavailable:
        console.print(f"[dim]Not available: {', '.join(group.ids)}. {group.reason}[/dim]")


def data_check_report(path: Any, fmt: str, issues: Issues, stats: dict[str, Any]) -> None:
    """Errors, warnings and per-split statistics of ``benchsel data check``."""
    console = Console(highlight=False)
    console.print(f"[bold]{escape(str(path))}[/bold]: format {fmt}")
    for label, items, colour in (
        ("error", issues.errors, "red"),
        ("warning", issues.warnings, "yellow"),
    ):
        for issue in items[:MAX_LISTED]:
            console.print(f"[{colour}]{label}[/{colour}]: {escape(str(issue))}")
        if len(items) > MAX_LISTED:
            console.print(f"[{colour}]... and {len(items) - MAX_LISTED} more {label}s[/{colour}]")
    for split, st in stats.items():
        console.print(_split_line(split, st))
        if "instances_per_class" in st:
            top = sorted(st["instances_per_class"].items(), key=lambda kv: -kv[1])
            console.print(
                "  per class: "
                + ", ".join(f"{escape(k)} {v}" for k, v in top[:12])
                + (" ..." if len(top) > 12 else "")
            )
        if "pixel_share" in st:
            console.print(
                "  pixel share: "
                + ", ".join(f"{escape(k)} {v:.3f}" for k, v in st["pixel_share"].items())
            )
    verdict = "[red]FAILED[/red]" if issues.errors else "[green]OK[/green]"
    console.print(f"{verdict}: {len(issues.errors)} errors, {len(issues.warnings)} warnings")


def _split_line(split: str, st: dict[str, Any]) -> str:
    line = f"[bold]{escape(split)}[/bold]: {st['images']} images, {st['classes']} classes"
    if "instances" in st:
        ipi = st["instances_per_image"]
        b = st["size_buckets"]
        line += (
            f", {st['instances']} instances (+{st['crowd_regions']} crowd), "
            f"{ipi['mean']:.2f} per image (max {ipi['max']:g}), "
            f"small/medium/large {b['small']}/{b['medium']}/{b['large']}"
        )
    if "segments" in st:
        share = st["panoptic_area_share"]
        line += (
            f", {st['segments']} segments, area things/stuff/void "
            f"{share['things']:.2f}/{share['stuff']:.2f}/{share['void']:.2f}"
        )
    return line


def label_cost_lines(task: str, cost: LabelCost) -> list[str]:
    """``benchsel data cost``: what the labels cost now and projected."""
    p, c = cost.unit_price_usd, cost.cost_usd
    plural = cost.unit + ("es" if cost.unit.endswith("x") else "s")
    lines = [
        f"{task}: {cost.units} {cost.kind.replace('_', ' ')} labels ({plural}) on "
        f"{cost.images} images, {cost.units_per_image:g} per image",
        f"  unit price  ${p['low']:.2f} / ${p['typical']:.2f} / ${p['high']:.2f} "
        "(low / typical / high)",
        f"  these labels ${c['low']:,.2f} / ${c['typical']:,.2f} / ${c['high']:,.2f}",
    ]
    if cost.projected_cost_usd is not None and cost.projected_images is not None:
        q = cost.projected_cost_usd
        lines.append(
            f"  {cost.projected_images:,} images ${q['low']:,.2f} / ${q['typical']:,.2f} / "
            f"${q['high']:,.2f}"
        )
    return lines


def flops_lines(
    arch: Architecture, variant: str | None, classes: int, result: Complexity, at_default: bool
) -> list[str]:
    """``benchsel flops``: parameters and FLOPs, what was counted, the published figures."""
    h, w = result.input_size
    lines = [
        f"{arch.id}{' (' + variant + ')' if variant else ''} at {h}x{w}, batch 1, "
        f"{classes} classes: {result.params_m:.2f} M params, {result.gflops:.2f} GFLOPs "
        f"({result.gflops_x2:.2f} counting a multiply-add as 2)",
        f"  counted: {result.counted}; {result.convention}",
    ]
    if result.unsupported_ops:
        ops = ", ".join(f"{k} x{v}" for k, v in result.unsupported_ops.items())
        lines.append(f"  not counted (no FLOP formula): {ops}")
    ref = arch.reference
    if ref.gflops is not None and at_default:
        lines.append(
            f"  published: {ref.params_m} M params, {ref.gflops} GFLOPs ({ref.complexity_source})"
        )
    return lines


def score_lines(metrics: dict[str, float]) -> list[str]:
    """``benchsel eval``: the summary metrics, then per-class values on one line."""
    lines = [f"{k:<16} {v:.4f}" for k, v in metrics.items() if "/" not in k]
    per_class = [k for k in metrics if "/" in k]
    if per_class:
        lines.append(
            "per class: " + ", ".join(f"{k.split('/', 1)[1]} {metrics[k]:.3f}" for k in per_class)
        )
    return lines


def label_issue_lines(issues: list[LabelIssue]) -> list[str]:
    """``benchsel data label-issues``: one line per issue, ranked within each task."""
    lines: list[str] = []
    task = None
    rank = 0
    for issue in issues:
        if issue.task != task:
            task, rank = issue.task, 0
            lines.append(f"{issue.task}: val labels ranked by {issue.trial}'s predictions")
            lines.append(
                f"  {'#':>3}  {'score':>6}  {'kind':<18} {'image':<24} {'ann':>7}  labelled -> seen"
            )
        rank += 1
        ann = "-" if issue.annotation_id is None else str(issue.annotation_id)
        seen = f"{issue.class_name or '-'} -> {issue.predicted or '-'}"
        lines.append(
            f"  {rank:>3}  {issue.score:6.3f}  {issue.kind:<18} {issue.image:<24} {ann:>7}  {seen}"
        )
    if not issues:
        lines.append("no label issues found")
    return lines


def recommendation_text(rec: Recommendation) -> str:
    """``benchsel recommend`` (and the end of a run): the pick, why, the rivals, the notes."""
    from benchsel.recommend.explain import describe
    from benchsel.recommend.explain_verdict import evidence_summary

    lines = []
    if rec.recommended:
        head = rec.recommended.name
    elif rec.verdict == "no_signal":
        head = "none (no signal in the accuracies)"
    else:
        head = "nothing meets the constraints"
    verdict = f", verdict: {rec.verdict}" if rec.verdict else ""
    lines.append(f"[{rec.task}] recommended: {head} (basis: {rec.basis}{verdict})")
    lines.append("  constraints: " + "; ".join(describe(rec.task, rec.constraints)))
    lines += [f"  why: {r}" for r in rec.reasons]
    if rec.evidence:
        lines.append(f"  {evidence_summary(rec)}")
    for o in rec.ranking[1 if rec.recommended else 0 : 6]:
        lines.append(f"  - {o.name}: {'; '.join(o.reasons)}")
    for o in rec.rejected[:8]:
        lines.append(f"  x {o.name}: {'; '.join(o.reasons)}")
    lines += [f"  note: {n}" for n in rec.notes]
    return "\n".join(lines)


def forecast_text(answers: list[CurveAnswer]) -> str:
    """``benchsel forecast``: each curve's fit, backtest, forecasts and warnings, or why it has
    none."""
    lines: list[str] = []
    for a in answers:
        if a.fit is None:
            lines += [f"{a.title}: no forecast: {a.answer['warnings'][0]}", ""]
        else:
            lines += [*forecast_lines(a.title, a.fit, a.answer), ""]
    return "\n".join(lines).rstrip()


def forecast_lines(title: str, fit: CurveFit, report: dict[str, Any]) -> list[str]:
    """One curve's text (``report``: its ``forecast --json`` object)."""
    sizes = fit.sizes
    lines = [
        f"{title}: {report['metric']} at {len(sizes)} sizes, {sizes[0].images:,.0f} to "
        f"{fit.n_max:,.0f} labelled images"
    ]
    chosen = fit.chosen.family
    params = ", ".join(f"{k}={v:.4g}" for k, v in report["fit"]["params"].items())
    asym = fit.asymptote
    level = f"levels off at {asym:.3f}" if asym <= 1 else "no ceiling below the metric's 1.0"
    lines.append(f"  fit: {chosen.name}, {chosen.formula}: {params}; {level}")
    lines += [f"    {line}" for line in fit.family_lines()]
    if fit.backtest is not None:
        b = fit.backtest
        lines.append(
            f"  backtest: fitted without {b.images:,.0f} images, it predicted {b.predicted:.3f} "
            f"there; measured {b.measured:.3f} (error {b.error:+.3f})"
        )
    for f in report["forecasts"]:
        lines.append(
            f"  at {f['images']:,.0f} images ({f['extrapolation']:.3g}x the largest): "
            f"{f['accuracy']:.3f} [{f['low']:.3f}, {f['high']:.3f}]"
        )
    if report["images_needed"] is not None:
        lines.append(f"  target {_needed_text(report['images_needed'])}")
    lines += [f"  warning: {w}" for w in report["warnings"]]
    return lines


def _needed_text(n: dict[str, Any]) -> str:
    if n["images"] is None:
        return f"{n['target']:g}: not reachable on this curve (see the warning)"
    high = f"{n['high']:,.0f}" if n["high"] is not None else "no upper end"
    text = f"{n['target']:g}: about {n['images']:,.0f} images [{n['low']:,.0f}, {high}]"
    cost = n["cost_usd"]
    if cost is not None:
        text += (
            f"; labelling the ones still missing costs ${cost['typical']:,.0f} "
            f"(${cost['low']:,.0f} to ${cost['high']:,.0f})"
        )
    return text
