"""What every command shares: the user-error handler, JSON printing, and the option types
several commands take."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, TypeVar

import typer

from benchsel.errors import BenchselError
from benchsel.formatting import json_safe

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(command: F) -> F:
    """Print a BenchselError as ``error: ...`` and exit with its code (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except BenchselError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: object) -> None:
    """Strict JSON: NaN and infinities (undefined metrics) become null."""
    typer.echo(json.dumps(json_safe(data), indent=2, allow_nan=False))


def class_names(text: str | None) -> list[str] | None:
    """``--classes a,b`` as a list (None without the option)."""
    return [c.strip() for c in text.split(",")] if text else None


def option(help_text: str, **kwargs: Any) -> Any:
    return typer.Option(help=help_text, **kwargs)


TaskName = Literal["detection", "instance", "semantic", "panoptic"]
TaskOpt = Annotated[TaskName, typer.Option(help="detection, instance, semantic, panoptic.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
FormatOpt = Annotated[
    Literal["auto", "coco", "coco_panoptic", "mask_folder", "voc", "yolo", "cvat", "labelme"],
    typer.Option("--format", help="Data format (default: detected)."),
]
ClassesOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option(help="Comma-separated class names (mask folders; default: classes.txt)."),
]
IgnoreOpt = Annotated[int, typer.Option(help="Label value to ignore in mask folders.")]
DataPath = Annotated[Path, typer.Argument(help="Data set folder or annotation file.")]
ResultsPath = Annotated[Path, typer.Argument(help="Results file (.sqlite).")]
