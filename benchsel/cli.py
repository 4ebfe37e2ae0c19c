"""The ``benchsel`` command line: parse, call one function, render (``console``).

A user's mistake raises a :class:`BenchselError`; ``user_errors`` turns it into a red message and
the error's exit code in one place, without a traceback. Heavy imports stay inside commands, so
``benchsel --help`` does not import torch.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, TypeVar

import typer

from benchsel.errors import BenchselError
from benchsel.formatting import json_safe

app = typer.Typer(
    name="benchsel",
    help="Pick a detection or segmentation architecture by measuring real OpenMMLab models "
    "on your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: option names never truncated at 80 columns
)
suite_app = typer.Typer(
    help="Validate suite files and print their JSON Schema.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(suite_app, name="suite")
data_app = typer.Typer(
    help="Validate data sets, show statistics and labelling cost, make sample data.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(data_app, name="data")

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


def _print_json(data: object) -> None:
    """Strict JSON: NaN and infinities (undefined metrics) become null."""
    typer.echo(json.dumps(json_safe(data), indent=2, allow_nan=False))


def _classes(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",")] if text else None


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


@app.command("list")
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
        _print_json([a.summary() for a in entries])
    else:
        catalog_table(entries, catalog)


@suite_app.command("check")
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


@suite_app.command("schema")
def suite_schema() -> None:
    """Print the suite file's JSON Schema (point your editor's YAML support at it)."""
    from benchsel.suite import suite_json_schema

    typer.echo(suite_json_schema())


SplitOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(help="This split's annotation file or folder, relative to PATH (default: found)."),
]


@data_app.command("check")
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
        classes=_classes(classes),
        ignore_index=ignore_index,
    )
    issues = loaded.issues
    stats = {split: dataset_stats(ds) for split, ds in loaded.splits.items()}
    if as_json:
        _print_json(
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


@data_app.command("cost")
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
        path, fmt, classes=_classes(classes), ignore_index=ignore_index, check_images=False
    )
    if loaded.issues.errors:
        raise BenchselError(
            f"{path} has {len(loaded.issues.errors)} errors; run `benchsel data check {path}`"
        )
    cost = label_cost(list(loaded.splits.values()), task, project_to=images)
    if as_json:
        _print_json(cost.to_dict())
    else:
        typer.echo("\n".join(label_cost_lines(task, cost)))


@data_app.command("convert")
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

    loaded = load_data(src, fmt, classes=_classes(classes))
    if loaded.issues.errors:
        raise BenchselError(
            f"{src} has {len(loaded.issues.errors)} errors; run `benchsel data check {src}`"
        )
    written = convert_to_coco(loaded, out, copy=copy)
    for split, ann in written.items():
        n = len(loaded.splits[split].images)
        typer.echo(f"{split:<6} {n} images -> {ann}")


@data_app.command("sample")
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


@data_app.command("label-issues")
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
        _print_json({"issues": [i.to_dict() for i in issues]})
    else:
        typer.echo("\n".join(label_issue_lines(issues)))


@app.command("run")
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

    from benchsel.console import RunProgress, summary_table
    from benchsel.pipeline.executors import make_executor
    from benchsel.pipeline.run import run_suite
    from benchsel.recommend import render_text
    from benchsel.recommend.engine import recommend_for_suite
    from benchsel.report import write_report
    from benchsel.store import ResultsStore
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
    with ResultsStore(summary.store_path) as store:
        trials = store.trials()
    console.print(summary_table(trials))
    console.print(
        f"{summary.ran} trials run, {summary.skipped} already stored, "
        f"{len(summary.failed)} failed; data prepared in {summary.prepare_s:.0f} s, "
        f"total {summary.wall_s:.0f} s. Results: {summary.store_path}"
    )
    for rec in recommend_for_suite(trials, suite):
        console.print(escape(render_text(rec)))
    report_path = suite.report or suite.output / f"{suite.name}.html"
    try:
        write_report(summary.store_path, report_path)
        console.print(f"Report: {report_path}")
    except BenchselError as exc:
        console.print(f"[red]report not written:[/red] {escape(str(exc))}")
    if summary.failed:
        raise typer.Exit(2)


def _option(help_text: str, **kwargs: Any) -> Any:
    return typer.Option(help=help_text, **kwargs)


@app.command("recommend")
@user_errors
def recommend_cmd(
    task: TaskOpt,
    results_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--results", help="Results file of a run; without it, a prior."),
    ] = None,
    min_fps: Annotated[Optional[float], _option("Frames per second, batch 1.", min=0)] = None,  # noqa: UP045
    max_latency_ms: Annotated[
        Optional[float],  # noqa: UP045
        _option("Latency limit, batch 1, end to end.", min=0),
    ] = None,
    max_gpu_mem_gib: Annotated[
        Optional[float],  # noqa: UP045
        _option("GPU memory limit, GiB.", min=0),
    ] = None,
    gpu_budget_hours: Annotated[
        Optional[float],  # noqa: UP045
        _option("GPU-hours for a full training run.", min=0),
    ] = None,
    gpu_budget_usd: Annotated[
        Optional[float],  # noqa: UP045
        _option("Dollars for a full training run.", min=0),
    ] = None,
    gpu_hour_usd: Annotated[
        Optional[float],  # noqa: UP045
        _option("Price of a GPU-hour (default: the run's, else 2.5).", min=0),
    ] = None,
    label_budget_usd: Annotated[
        Optional[float],  # noqa: UP045
        _option("Dollars for labelling.", min=0),
    ] = None,
    images: Annotated[
        Optional[int],  # noqa: UP045
        _option("Labelled images you have or can afford.", min=1),
    ] = None,
    target_accuracy: Annotated[
        Optional[float],  # noqa: UP045
        _option("Minimum primary metric (0..1).", min=0, max=1),
    ] = None,
    domain: Annotated[
        Literal["general", "medical", "aerial", "driving", "industrial"],
        typer.Option(help="Image domain."),
    ] = "general",
    need_pixel_masks: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--need-pixel-masks/--boxes-are-enough", help="Do you need masks?"),
    ] = None,
    runtime: Annotated[
        Literal["pytorch", "onnxruntime"],
        typer.Option(help="Runtime you deploy on: speed limits use its measured latency."),
    ] = "pytorch",
    margin: Annotated[
        Optional[float],  # noqa: UP045
        _option(
            "Smallest accuracy difference that matters (metric units; default: the run's "
            "constraints.margin, else 0.01).",
            min=0,
            max=1,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recommend an architecture from measured results (or a prior) and your constraints."""
    from pydantic import ValidationError

    from benchsel.recommend import recommend, render_text
    from benchsel.recommend.evidence import DEFAULT_MARGIN
    from benchsel.store import open_store
    from benchsel.suite import Constraints, CostSpec, LabellingPrices, format_validation_error

    trials = None
    prices = None
    cost = CostSpec()
    run_margin = DEFAULT_MARGIN
    if results_file is not None:
        with open_store(results_file, must_exist=True) as store:
            trials = store.trials()
            run = store.latest_run()
        if run is not None:
            prices = LabellingPrices.model_validate(run["suite"].get("labelling", {}))
            cost = CostSpec.model_validate(run["suite"].get("cost", {}))
            run_margin = (run["suite"].get("constraints") or {}).get("margin", DEFAULT_MARGIN)
    try:
        constraints = Constraints(
            min_fps=min_fps or None,
            max_latency_ms=max_latency_ms or None,
            max_gpu_mem_gib=max_gpu_mem_gib or None,
            gpu_budget_hours=gpu_budget_hours or None,
            gpu_budget_usd=gpu_budget_usd or None,
            label_budget_usd=label_budget_usd or None,
            labelled_images=images,
            target_accuracy=target_accuracy or None,
            domain=domain,
            need_pixel_masks=need_pixel_masks,
            margin=margin if margin is not None else run_margin,
        )
    except ValidationError as exc:
        raise BenchselError(format_validation_error(exc)) from None
    hour_usd = gpu_hour_usd if gpu_hour_usd is not None else cost.gpu_hour_usd
    rec = recommend(trials, task, constraints, prices, hour_usd, runtime)
    if as_json:
        _print_json(rec.to_dict())
    else:
        typer.echo(render_text(rec))


@app.command("report")
@user_errors
def report(
    file: Annotated[Path, typer.Argument(help="Results file (.sqlite).")],
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("-o", "--out", help="HTML file (default: the suite's report path)."),
    ] = None,
) -> None:
    """Write the self-contained HTML report of a results file."""
    from benchsel.report import write_report
    from benchsel.store import open_store

    if out is None:
        with open_store(file, must_exist=True) as store:
            run = store.latest_run() or {}
        stored = (run.get("suite") or {}).get("report")
        out = Path(stored) if stored else Path("reports") / f"{file.stem}.html"
    typer.echo(f"wrote {write_report(file, out)}")


SUMMARY_COLUMNS = (
    "arch_id",
    "task",
    "variant",
    "loss",
    "data_fraction",
    "status",
    "accuracy",
    "latency_e2e_p50_ms",
    "gflops",
)


@app.command("results")
@user_errors
def results(
    file: Annotated[Path, typer.Argument(help="Results file (.sqlite).")],
    csv: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="Write one row per trial to this CSV file."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
) -> None:
    """Export stored results: one row per trial with every metric."""
    from benchsel.store import open_store, trials_frame

    with open_store(file, must_exist=True) as store:
        frame = trials_frame(store)
    if csv is not None:
        frame.to_csv(csv, index=False)
        typer.echo(f"wrote {len(frame)} rows to {csv}")
    if as_json:
        _print_json(frame.to_dict(orient="records"))
    elif csv is None:
        cols = [c for c in SUMMARY_COLUMNS if c in frame]
        typer.echo(frame[cols].to_string(index=False))


@app.command("eval")
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

    metrics = score_files(task, gt, pred, fmt, _classes(classes), ignore_index)
    if as_json:
        _print_json(metrics)
    else:
        typer.echo("\n".join(score_lines(metrics)))


@app.command("flops")
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
        _print_json({"id": arch.id, "variant": variant, "classes": classes, **result.to_dict()})
        return
    at_default = size is None or tuple(size) == tuple(arch.input_size)
    typer.echo("\n".join(flops_lines(arch, variant, classes, result, at_default)))


@app.command("forecast")
@user_errors
def forecast(
    results_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--results", help="Results file of a run with several data fractions."),
    ] = None,
    points_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--points", help="CSV: images,accuracy[,ci_low,ci_high] (accuracy 0-1)."),
    ] = None,
    at: Annotated[
        Optional[list[float]],  # noqa: UP045
        typer.Option("--at", min=1, metavar="N", help="Labelled images to forecast (repeatable)."),
    ] = None,
    target: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(min=0, max=1, help="Accuracy to reach: images needed and labelling cost."),
    ] = None,
    task: Annotated[
        Optional[TaskName],  # noqa: UP045
        typer.Option(help="Only this task (--results); prices the labels (--points)."),
    ] = None,
    units_per_image: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(min=0, help="Boxes or instances per image, to price --points labels."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit learning curves and forecast accuracy at more labelled images, or the images (and
    labelling cost) a target accuracy needs, with 95% bands and a backtest."""
    from benchsel.recommend.forecast import (
        ForecastError,
        curves_from_trials,
        fit_curve,
        forecast_lines,
        forecast_report,
        price_per_image,
        read_points_csv,
    )
    from benchsel.suite import LabellingPrices
    from benchsel.tasks import TASKS, task_info

    if (results_file is None) == (points_file is None):
        raise BenchselError("give exactly one of --results FILE or --points FILE")
    if points_file is not None:
        points = read_points_csv(points_file)
        fit = fit_curve(points)
        price = price_per_image(LabellingPrices(), task, units_per_image) if task else None
        metric = task_info(task).primary_metric if task else "accuracy"
        sizes = at or [2 * fit.n_max, 4 * fit.n_max]
        out = forecast_report(fit, metric, sizes, target, price)
        if target is not None and price is None:
            out["warnings"].append(
                "labelling cost not priced: give --task (and --units-per-image for boxes or "
                "instances)"
            )
        if as_json:
            _print_json(out)
        else:
            typer.echo("\n".join(forecast_lines(str(points_file), fit, out)))
        return
    from benchsel.store import open_store

    assert results_file is not None
    with open_store(results_file, must_exist=True) as store:
        trials = store.trials()
        run = store.latest_run() or {}
    prices = LabellingPrices.model_validate((run.get("suite") or {}).get("labelling", {}))
    answers: list[dict[str, Any]] = []
    lines: list[str] = []
    for name in [task] if task else TASKS:
        for curve in curves_from_trials(trials, name):
            try:
                fit = fit_curve(curve.points)
            except ForecastError as exc:
                answers.append(
                    {
                        "option": curve.name,
                        "task": name,
                        "metric": curve.metric,
                        "fit": None,
                        "forecasts": [],
                        "images_needed": None,
                        "warnings": [str(exc)],
                    }
                )
                lines += [f"{curve.name} ({name}): no forecast: {exc}", ""]
                continue
            price = price_per_image(prices, name, curve.units_per_image)
            sizes = at or [2 * fit.n_max, 4 * fit.n_max]
            out = forecast_report(fit, curve.metric, sizes, target, price, curve.labelled_images)
            answers.append({"option": curve.name, "task": name, **out})
            lines += [*forecast_lines(f"{curve.name} ({name})", fit, out), ""]
    if not answers:
        raise BenchselError(f"{results_file} has no successful trials with labelled images")
    if as_json:
        _print_json(answers)
    else:
        typer.echo("\n".join(lines).rstrip())
    if all(a["fit"] is None for a in answers):
        raise typer.Exit(1)


@app.command("doctor")
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


def main() -> None:  # pragma: no cover - console entry point alias
    sys.exit(app())
