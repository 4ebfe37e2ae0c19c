"""``benchsel suite`` (check a suite file, print its schema) and ``benchsel run`` (run it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from benchsel.cli.options import user_errors


@user_errors
def suite_check(file: Annotated[Path, typer.Argument(help="Suite YAML file.")]) -> None:
    """Validate a suite file; print what it will run."""
    from benchsel.pipeline.plan import expand_trials
    from benchsel.suite import load_suite

    suite = load_suite(file)
    tasks = sorted({suite.task_of(c) for c in suite.candidates})
    typer.echo(
        f"{file}: ok - suite {suite.name!r}, tasks {', '.join(tasks)}, "
        f"{len(suite.candidates)} candidates, {len(expand_trials(suite))} trials"
    )


def suite_schema() -> None:
    """Print the suite file's JSON Schema (point your editor's YAML support at it)."""
    from benchsel.suite import suite_json_schema

    typer.echo(suite_json_schema())


@user_errors
def run(
    suite_file: Annotated[Path, typer.Argument(metavar="SUITE", help="Suite YAML file.")],
    fresh: Annotated[bool, typer.Option(help="Re-run trials already stored as ok.")] = False,
    executor: Annotated[
        Literal["subprocess", "local", "ray"],
        typer.Option(help="Where trials run: subprocess (default), local or ray."),
    ] = "subprocess",
    address: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Ray cluster address (with --executor ray); default: local Ray."),
    ] = None,
    trial_timeout: Annotated[
        float, typer.Option(min=1, help="Seconds before a trial is killed and marked timeout.")
    ] = 6 * 3600,
    only: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Comma-separated architecture ids to run (others are skipped)."),
    ] = None,
    until_decided: Annotated[
        bool,
        typer.Option(
            help="Race: start with the suite's seeds, then add seeds only to the candidates "
            "still undecided with the leader, until the verdict is decided."
        ),
    ] = False,
    max_seeds: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=1, help="Racing: at most this many seeds per candidate (default 5)."),
    ] = None,
) -> None:
    """Fine-tune, evaluate and measure every candidate; store, report and recommend.

    Exit code 0 when every trial succeeded, 2 when some failed, 1 on a user error.
    """
    from rich.console import Console
    from rich.markup import escape

    from benchsel.console import RunProgress, recommendation_text, summary_table
    from benchsel.pipeline.executors import make_executor
    from benchsel.pipeline.finish import finish_run
    from benchsel.pipeline.run import run_suite
    from benchsel.suite import load_suite

    console = Console(highlight=False)
    if not console.is_terminal:  # logs and CI: room for the results table
        console = Console(highlight=False, width=max(console.width, 140))
    suite = load_suite(suite_file)
    runner = make_executor(executor, trial_timeout, address)
    racing = until_decided or suite.training.max_seeds is not None
    try:
        with RunProgress(console) as bars:
            callbacks: dict[str, Any] = {
                "on_plan": bars.plan,
                "on_start": bars.start,
                "on_progress": bars.step,
                "on_done": bars.done,
            }
            if racing:
                from benchsel.pipeline.race import race_suite

                summary = race_suite(
                    suite,
                    executor=runner,
                    max_seeds=max_seeds or suite.training.max_seeds or 5,
                    fresh=fresh,
                    only=only.split(",") if only else None,
                    on_round=lambda line: console.print(escape(line)),
                    **callbacks,
                )
            else:
                summary = run_suite(
                    suite,
                    executor=runner,
                    fresh=fresh,
                    only=only.split(",") if only else None,
                    **callbacks,
                )
    except KeyboardInterrupt:
        typer.secho(
            "interrupted: finished trials are stored; run again to resume",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(130) from None
    done = finish_run(summary.store_path, suite)
    console.print(summary_table(done.trials))
    console.print(
        f"{summary.ran} trials run, {summary.skipped} already stored, "
        f"{len(summary.failed)} failed; data prepared in {summary.prepare_s:.0f} s, "
        f"total {summary.wall_s:.0f} s. Results: {summary.store_path}"
    )
    for rec in done.recommendations:
        console.print(escape(recommendation_text(rec)))
    if done.report is not None:
        console.print(f"Report: {done.report}")
    else:
        console.print(f"[red]report not written:[/red] {escape(str(done.report_error))}")
    if summary.failed:
        raise typer.Exit(2)
