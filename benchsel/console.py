"""Terminal rendering of a run: progress bars while it runs, a summary table at the end."""

from __future__ import annotations

import math
from typing import Any

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
from benchsel.trial import PRIMARY_METRIC, TrialOutcome
from benchsel.trials import TrialSpec


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
        self.progress.update(
            self.trials, total=len(todo), note=f"({skipped} already stored)" if skipped else ""
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


def _fmt(value: Any, digits: int = 3) -> str:
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
        label = t.spec.get("arch_id", t.arch_id)
        extras = [x for x in (None if t.variant == "default" else t.variant, t.loss) if x]
        if extras:
            label += f" [{', '.join(extras)}]"
        if t.data_fraction != 1:
            label += f" @{t.data_fraction:g}"
        m = t.metrics
        status = "[green]ok[/green]" if t.status == "ok" else f"[red]{t.status}[/red]"
        table.add_row(
            escape(label),
            t.task,
            status,
            f"{metric} {_fmt(m.get('accuracy'))}" if t.status == "ok" else "-",
            _fmt(m.get("latency_e2e_p50_ms"), 1),
            _fmt(m.get("fps"), 1),
            _fmt(m.get("gflops"), 2),
            _fmt(m.get("params_m"), 2),
            _fmt(m.get("train_wall_s"), 0),
            _fmt(m.get("label_cost_usd"), 0),
        )
    return table
