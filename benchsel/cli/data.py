"""``benchsel data``: validate a data set and show its statistics, price its labels, convert it
to COCO, generate the sample data set, rank likely label problems."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from benchsel.cli.options import (
    ClassesOpt,
    DataPath,
    FormatOpt,
    IgnoreOpt,
    JsonOpt,
    TaskName,
    TaskOpt,
    class_names,
    print_json,
    user_errors,
)
from benchsel.errors import BenchselError

SplitOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(help="This split's annotation file or folder, relative to PATH (default: found)."),
]


@user_errors
def data_check(
    path: DataPath,
    fmt: FormatOpt = "auto",
    classes: ClassesOpt = None,
    ignore_index: IgnoreOpt = 255,
    train: SplitOpt = None,
    val: SplitOpt = None,
    test: SplitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a data set and print its statistics (train, val and test splits). Exit 1 on
    errors, 0 with warnings only."""
    from benchsel.console import data_check_report
    from benchsel.data import load_data
    from benchsel.data.stats import dataset_stats

    loaded = load_data(
        path,
        fmt,
        train=train,
        val=val,
        test=test,
        classes=class_names(classes),
        ignore_index=ignore_index,
    )
    issues = loaded.issues
    stats = {split: dataset_stats(ds) for split, ds in loaded.splits.items()}
    if as_json:
        print_json(
            {
                "format": loaded.format,
                "errors": [i.to_dict() for i in issues.errors],
                "warnings": [i.to_dict() for i in issues.warnings],
                "stats": stats,
            }
        )
    else:
        data_check_report(path, loaded.format, issues, stats)
    if issues.errors:
        raise typer.Exit(1)


@user_errors
def data_cost(
    path: DataPath,
    task: TaskOpt,
    images: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--images", min=1, help="Project the cost to this many images."),
    ] = None,
    fmt: FormatOpt = "auto",
    classes: ClassesOpt = None,
    ignore_index: IgnoreOpt = 255,
    as_json: JsonOpt = False,
) -> None:
    """Labelling cost of the labels TASK needs for this data set (low / typical / high)."""
    from benchsel.console import label_cost_lines
    from benchsel.data import load_data
    from benchsel.data.labelling import label_cost

    loaded = load_data(
        path, fmt, classes=class_names(classes), ignore_index=ignore_index, check_images=False
    )
    if loaded.issues.errors:
        raise BenchselError(
            f"{path} has {len(loaded.issues.errors)} errors; run `benchsel data check {path}`"
        )
    cost = label_cost(list(loaded.splits.values()), task, project_to=images)
    if as_json:
        print_json(cost.to_dict())
    else:
        typer.echo("\n".join(label_cost_lines(task, cost)))


@user_errors
def data_convert(
    src: Annotated[Path, typer.Argument(help="Data set folder or annotation file to read.")],
    out: Annotated[Path, typer.Argument(help="Folder to write the COCO data set into.")],
    to: Annotated[Literal["coco"], typer.Option("--to", help="Output format.")] = "coco",
    fmt: FormatOpt = "auto",
    classes: ClassesOpt = None,
    copy: Annotated[
        bool, typer.Option("--copy/--link", help="Copy the images (default: symlink them).")
    ] = False,
) -> None:
    """Write what benchsel reads from SRC as COCO (annotations/instances_<split>.json and one
    image folder per split), to check it with any COCO tool. Refuses a data set with errors."""
    from benchsel.data import load_data
    from benchsel.data.convert import convert_to_coco

    loaded = load_data(src, fmt, classes=class_names(classes))
    if loaded.issues.errors:
        raise BenchselError(
            f"{src} has {len(loaded.issues.errors)} errors; run `benchsel data check {src}`"
        )
    written = convert_to_coco(loaded, out, copy=copy)
    for split, ann in written.items():
        n = len(loaded.splits[split].images)
        typer.echo(f"{split:<6} {n} images -> {ann}")


def data_sample(
    out: Annotated[Path, typer.Argument(help="Folder to write the sample data set into.")],
    images: Annotated[int, typer.Option(min=4, help="Number of images.")] = 240,
    size: Annotated[int, typer.Option(min=32, max=2048, help="Image side in pixels.")] = 128,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 0,
) -> None:
    """Generate the built-in sample data set in every format (COCO, panoptic, masks, VOC)."""
    from benchsel.data.sample import SAMPLE_FILES, generate_sample

    ds = generate_sample(out, images, size, seed)
    n_inst = sum(len(im.instances) for im in ds.images)
    typer.echo(f"wrote {len(ds.images)} images ({size}x{size}, {n_inst} objects) to {out}")
    for fmt, rel in SAMPLE_FILES.items():
        typer.echo(f"  {fmt:<14} {out / rel}")


@user_errors
def data_label_issues(
    file: Annotated[Path, typer.Argument(metavar="RESULTS", help="Results file (.sqlite).")],
    top: Annotated[int, typer.Option("--top", min=1, help="Issues listed per task.")] = 20,
    task: Annotated[
        Optional[TaskName],  # noqa: UP045
        typer.Option(help="Only this task."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rank likely label problems in the val split by the best model's predictions (cleanlab):
    missing boxes, wrong classes, badly located boxes, masks that disagree."""
    from benchsel.console import label_issue_lines
    from benchsel.evaluation.label_issues import label_issues
    from benchsel.store import open_store

    with open_store(file, must_exist=True) as store:
        trials = store.trials()
    issues = label_issues(trials, top=top, task=task)
    if as_json:
        print_json({"issues": [i.to_dict() for i in issues]})
    else:
        typer.echo("\n".join(label_issue_lines(issues)))
