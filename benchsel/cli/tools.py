"""Commands that need no results file: the architecture catalog, FLOPs of an architecture,
scoring any model's prediction files, and the installation check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from benchsel.cli.options import (
    ClassesOpt,
    FormatOpt,
    IgnoreOpt,
    JsonOpt,
    TaskName,
    class_names,
    print_json,
    user_errors,
)


@user_errors
def list_architectures(
    task: Annotated[
        Optional[TaskName],  # noqa: UP045
        typer.Option(help="Only architectures for this task."),
    ] = None,
    pattern: Annotated[str, typer.Argument(help="Shell-style id filter, e.g. 'rtmdet*'.")] = "*",
    as_json: JsonOpt = False,
) -> None:
    """List the architecture catalog."""
    from benchsel.catalog import load_catalog
    from benchsel.console import catalog_table

    catalog = load_catalog()
    entries = catalog.select(pattern, task)
    if as_json:
        print_json([a.summary() for a in entries])
    else:
        catalog_table(entries, catalog)


@user_errors
def evaluate(
    task: Annotated[
        Literal["bbox", "segm", "panoptic", "semantic"],
        typer.Option(help="bbox, segm, panoptic or semantic."),
    ],
    gt: Annotated[Path, typer.Option(help="Ground truth: annotation file or data set folder.")],
    pred: Annotated[
        Path,
        typer.Option(help="COCO results json; panoptic json (+ PNG folder); label PNG folder."),
    ],
    fmt: FormatOpt = "auto",
    classes: ClassesOpt = None,
    ignore_index: IgnoreOpt = 255,
    as_json: Annotated[bool, typer.Option("--json", help="Print one flat JSON object.")] = False,
) -> None:
    """Score any model's predictions (COCO AP == pycocotools, PQ == panopticapi, mIoU)."""
    from benchsel.console import score_lines
    from benchsel.evaluation.score_files import score_files

    metrics = score_files(task, gt, pred, fmt, class_names(classes), ignore_index)
    if as_json:
        print_json(metrics)
    else:
        typer.echo("\n".join(score_lines(metrics)))


@user_errors
def flops(
    arch_id: Annotated[str, typer.Argument(metavar="ARCH", help="Catalog id, e.g. rtmdet-tiny.")],
    size: Annotated[
        Optional[tuple[int, int]],  # noqa: UP045
        typer.Option(help="Input height and width (default: the catalog's)."),
    ] = None,
    classes: Annotated[
        int, typer.Option(min=1, help="Classes (panoptic: split 80:53 things:stuff like COCO).")
    ] = 80,
    variant: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Catalog variant, e.g. r18-light."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Parameters and FLOPs of an architecture (fvcore; 1 multiply-add = 1 FLOP)."""
    from benchsel.adapters import ClassSpec, build_model
    from benchsel.catalog import load_catalog
    from benchsel.console import flops_lines
    from benchsel.profiling.complexity import count_complexity

    arch = load_catalog().get(arch_id)
    model = build_model(arch, ClassSpec.coco_like(arch, classes), variant=variant, input_size=size)
    result = count_complexity(model)
    if as_json:
        print_json({"id": arch.id, "variant": variant, "classes": classes, **result.to_dict()})
        return
    at_default = size is None or tuple(size) == tuple(arch.input_size)
    typer.echo("\n".join(flops_lines(arch, variant, classes, result, at_default)))


def doctor() -> None:
    """Check the installation (torch, CUDA, mmcv ops, mmdet/mmseg, extras); exit 1 if broken."""
    from benchsel.doctor import run_checks

    checks = run_checks()
    for c in checks:
        mark = "ok  " if c.ok else ("FAIL" if c.required else "note")
        line = f"{mark} {c.name}: {c.detail}"
        if not c.ok and c.fix:
            line += f"\n     fix: {c.fix}"
        typer.echo(line)
    broken = [c for c in checks if c.required and not c.ok]
    typer.echo("installation OK" if not broken else f"{len(broken)} problem(s) to fix")
    if broken:
        raise typer.Exit(1)
