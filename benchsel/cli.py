"""The ``benchsel`` command line: parse, delegate, render. Heavy imports stay in the commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from benchsel.errors import BenchselError

app = typer.Typer(
    name="benchsel",
    help="Pick a detection or segmentation architecture by measuring real OpenMMLab models "
    "on your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
suite_app = typer.Typer(
    help="Validate suite files and print their JSON Schema.", no_args_is_help=True
)
app.add_typer(suite_app, name="suite")


def _fail(exc: BenchselError) -> typer.Exit:
    """Print a user error without a traceback; the caller raises the returned Exit."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(exc.exit_code)


@app.command("list")
def list_architectures(
    task: Annotated[
        Optional[str],  # noqa: UP045 - typer needs Optional on 3.10
        typer.Option(
            help="Only architectures for this task: detection, instance, semantic, panoptic."
        ),
    ] = None,
    pattern: Annotated[str, typer.Argument(help="Shell-style id filter, e.g. 'rtmdet*'.")] = "*",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the architecture catalog."""
    from benchsel.catalog import TASKS, load_catalog

    try:
        if task is not None and task not in TASKS:
            raise BenchselError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        catalog = load_catalog()
        entries = catalog.select(pattern, task)  # type: ignore[arg-type]
    except BenchselError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps([a.summary() for a in entries], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"benchsel catalog ({len(entries)} architectures)")
    for col in ("id", "family", "tasks", "package", "input (HxW)", "published", "variants"):
        table.add_column(col)
    for a in entries:
        published = ", ".join(f"{k} {v:g}" for k, v in a.reference.metrics.items())
        table.add_row(
            a.id,
            a.family,
            ", ".join(a.tasks),
            a.package,
            f"{a.input_size[0]}x{a.input_size[1]}",
            f"{published} ({a.reference.dataset})",
            ", ".join(a.variants) or "-",
        )
    console = Console()
    console.print(table)
    for group in catalog.unavailable:
        console.print(f"[dim]Not available: {', '.join(group.ids)}. {group.reason}[/dim]")


@suite_app.command("check")
def suite_check(
    file: Annotated[Path, typer.Argument(help="Suite YAML file.")],
) -> None:
    """Validate a suite file; print what it will run."""
    from benchsel.suite import load_suite

    try:
        suite = load_suite(file)
    except BenchselError as exc:
        raise _fail(exc) from None
    variants = sum(len(c.variants) * len(c.losses or [None]) for c in suite.candidates)
    trials = variants * len(suite.training.data_fractions) * len(suite.training.seeds)
    typer.echo(
        f"{file}: ok - suite {suite.name!r}, tasks "
        f"{', '.join(sorted({suite.task_of(c) for c in suite.candidates}))}, "
        f"{len(suite.candidates)} candidates, {trials} trials"
    )


@suite_app.command("schema")
def suite_schema() -> None:
    """Print the suite file's JSON Schema (point your editor's YAML support at it)."""
    from benchsel.suite import suite_json_schema

    typer.echo(suite_json_schema())


def main() -> None:  # pragma: no cover - console entry point alias
    sys.exit(app())
