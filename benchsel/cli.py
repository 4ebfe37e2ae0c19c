"""The ``benchsel`` command line: parse, delegate, render. Heavy imports stay in the commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

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
data_app = typer.Typer(
    help="Validate data sets, show statistics and labelling cost, make sample data.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")

_MAX_LISTED = 30


def _json(data: object) -> str:
    """Strict JSON: NaN and infinities (undefined metrics) become null."""
    import math

    def clean(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(data), indent=2, allow_nan=False)


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
        entries = catalog.select(pattern, task)
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
    from benchsel.trials import expand_trials

    trials = len(expand_trials(suite))
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


def _load_data_or_fail(
    path: Path, fmt: str, classes: str | None, ignore_index: int, check_images: bool
):  # -> LoadedData
    from benchsel.data import load_data

    names = [c.strip() for c in classes.split(",")] if classes else None
    try:
        return load_data(
            path, fmt, classes=names, ignore_index=ignore_index, check_images=check_images
        )
    except BenchselError as exc:
        raise _fail(exc) from None


FormatOpt = Annotated[
    str, typer.Option("--format", help="auto, coco, coco_panoptic, mask_folder or voc.")
]
ClassesOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(help="Comma-separated class names (mask folders; default: classes.txt)."),
]
IgnoreOpt = Annotated[int, typer.Option(help="Label value to ignore in mask folders.")]


@data_app.command("check")
def data_check(
    path: Annotated[Path, typer.Argument(help="Data set folder or annotation file.")],
    fmt: FormatOpt = "auto",
    classes: ClassesOpt = None,
    ignore_index: IgnoreOpt = 255,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Validate a data set and print its statistics. Exit 1 on errors, 0 with warnings only."""
    from benchsel.data.stats import dataset_stats

    loaded = _load_data_or_fail(path, fmt, classes, ignore_index, True)
    issues = loaded.issues
    stats = {split: dataset_stats(ds) for split, ds in loaded.splits.items()}
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "format": loaded.format,
                    "errors": [i.to_dict() for i in issues.errors],
                    "warnings": [i.to_dict() for i in issues.warnings],
                    "stats": stats,
                },
                indent=2,
            )
        )
    else:
        _print_check(path, loaded.format, issues, stats)
    if issues.errors:
        raise typer.Exit(1)


def _print_check(path: Path, fmt: str, issues, stats: dict) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    console.print(f"[bold]{escape(str(path))}[/bold]: format {fmt}")
    for label, items, colour in (
        ("error", issues.errors, "red"),
        ("warning", issues.warnings, "yellow"),
    ):
        for issue in items[:_MAX_LISTED]:
            console.print(f"[{colour}]{label}[/{colour}]: {escape(str(issue))}")
        if len(items) > _MAX_LISTED:
            console.print(f"[{colour}]... and {len(items) - _MAX_LISTED} more {label}s[/{colour}]")
    for split, st in stats.items():
        line = f"[bold]{split}[/bold]: {st['images']} images, {st['classes']} classes"
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
        console.print(line)
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


@data_app.command("cost")
def data_cost(
    path: Annotated[Path, typer.Argument(help="Data set folder or annotation file.")],
    task: Annotated[str, typer.Option(help="detection, instance, semantic or panoptic.")],
    images: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--images", min=1, help="Project the cost to this many images."),
    ] = None,
    fmt: FormatOpt = "auto",
    classes: ClassesOpt = None,
    ignore_index: IgnoreOpt = 255,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Labelling cost of the labels TASK needs for this data set (low / typical / high)."""
    from benchsel.catalog import TASKS
    from benchsel.data.labelling import label_cost

    if task not in TASKS:
        raise _fail(BenchselError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}"))
    loaded = _load_data_or_fail(path, fmt, classes, ignore_index, False)
    if loaded.issues.errors:
        raise _fail(
            BenchselError(
                f"{path} has {len(loaded.issues.errors)} errors; run `benchsel data check {path}`"
            )
        )
    try:
        cost = label_cost(list(loaded.splits.values()), task, project_to=images)
    except BenchselError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(cost.to_dict(), indent=2))
        return
    p, c = cost.unit_price_usd, cost.cost_usd
    typer.echo(
        f"{task}: {cost.units} {cost.kind.replace('_', ' ')} labels "
        f"({cost.unit}{'es' if cost.unit.endswith('x') else 's'}) on "
        f"{cost.images} images, {cost.units_per_image:g} per image\n"
        f"  unit price  ${p['low']:.2f} / ${p['typical']:.2f} / ${p['high']:.2f} "
        f"(low / typical / high)\n"
        f"  these labels ${c['low']:,.2f} / ${c['typical']:,.2f} / ${c['high']:,.2f}"
    )
    if cost.projected_cost_usd is not None:
        q = cost.projected_cost_usd
        typer.echo(
            f"  {cost.projected_images:,} images ${q['low']:,.2f} / ${q['typical']:,.2f} / "
            f"${q['high']:,.2f}"
        )


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


@app.command("run")
def run(
    suite_file: Annotated[Path, typer.Argument(metavar="SUITE", help="Suite YAML file.")],
    fresh: Annotated[bool, typer.Option(help="Re-run trials already stored as ok.")] = False,
    executor: Annotated[str, typer.Option(help="subprocess (default), local or ray.")] = (
        "subprocess"
    ),
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
) -> None:
    """Fine-tune, evaluate and measure every candidate; store, report and recommend.

    Exit code 0 when every trial succeeded, 2 when some failed, 1 on a user error.
    """
    from rich.console import Console

    from benchsel.console import RunProgress, summary_table
    from benchsel.run import make_executor, run_suite
    from benchsel.store import ResultsStore
    from benchsel.suite import load_suite

    console = Console(highlight=False)
    if not console.is_terminal:  # logs and CI: room for the results table
        console = Console(highlight=False, width=max(console.width, 140))
    try:
        suite = load_suite(suite_file)
        runner = make_executor(executor, trial_timeout, address)
        with RunProgress(console) as bars:
            summary = run_suite(
                suite,
                executor=runner,
                fresh=fresh,
                only=only.split(",") if only else None,
                on_plan=bars.plan,
                on_start=bars.start,
                on_progress=bars.step,
                on_done=bars.done,
            )
    except BenchselError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        typer.secho(
            "interrupted: finished trials are stored; run again to resume",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(130) from None
    with ResultsStore(summary.store_path) as store:
        console.print(summary_table(store.trials()))
    console.print(
        f"{summary.ran} trials run, {summary.skipped} already stored, "
        f"{len(summary.failed)} failed; data prepared in {summary.prepare_s:.0f} s, "
        f"total {summary.wall_s:.0f} s. Results: {summary.store_path}"
    )
    _after_run(console, summary.store_path, suite)
    if summary.failed:
        raise typer.Exit(2)


def _after_run(console: Any, store_path: Path, suite: Any) -> None:
    """Write the HTML report and print a recommendation per task of the suite."""
    from rich.markup import escape

    from benchsel.recommend import constraints_from_suite, recommend, render_text
    from benchsel.report import write_report
    from benchsel.store import ResultsStore

    with ResultsStore(store_path) as store:
        trials = store.trials()
    tasks = sorted({t.task for t in trials})
    for task in tasks:
        rec = recommend(trials, constraints_from_suite(suite.constraints, task), suite.labelling)
        console.print(escape(render_text(rec)))
    report = suite.output / f"{suite.name}.html"
    try:
        write_report(store_path, report)
        console.print(f"Report: {report}")
    except BenchselError as exc:
        console.print(f"[red]report not written:[/red] {escape(str(exc))}")


@app.command("recommend")
def recommend_cmd(
    task: Annotated[str, typer.Option(help="detection, instance, semantic or panoptic.")],
    results_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--results", help="Results file of a run; without it, a prior."),
    ] = None,
    min_fps: Annotated[Optional[float], typer.Option(min=0)] = None,  # noqa: UP045
    max_latency_ms: Annotated[Optional[float], typer.Option(min=0)] = None,  # noqa: UP045
    max_gpu_mem_gb: Annotated[Optional[float], typer.Option(min=0)] = None,  # noqa: UP045
    gpu_budget_hours: Annotated[Optional[float], typer.Option(min=0)] = None,  # noqa: UP045
    gpu_budget_usd: Annotated[Optional[float], typer.Option(min=0)] = None,  # noqa: UP045
    label_budget_usd: Annotated[Optional[float], typer.Option(min=0)] = None,  # noqa: UP045
    images: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=1, help="Labelled images you have or can afford."),
    ] = None,
    target_accuracy: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(min=0, max=1, help="Minimum primary metric (0..1)."),
    ] = None,
    domain: Annotated[str, typer.Option(help="general, medical, aerial, driving, ...")] = (
        "general"
    ),
    need_pixel_masks: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--need-pixel-masks/--boxes-are-enough", help="Do you need masks?"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recommend an architecture from measured results (or a prior) and your constraints."""
    from benchsel.catalog import TASKS
    from benchsel.recommend import Constraints, recommend, render_text
    from benchsel.store import open_store

    if task not in TASKS:
        raise _fail(BenchselError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}"))
    trials = None
    prices = None
    try:
        if results_file is not None:
            with open_store(results_file, must_exist=True) as store:
                trials = store.trials()
                run = store.latest_run()
            if run is not None:
                from benchsel.suite import LabellingPrices

                prices = LabellingPrices.model_validate(run["suite"].get("labelling", {}))
    except BenchselError as exc:
        raise _fail(exc) from None
    constraints = Constraints(
        task=task,
        min_fps=min_fps,
        max_latency_ms=max_latency_ms,
        max_gpu_mem_gb=max_gpu_mem_gb,
        gpu_budget_hours=gpu_budget_hours,
        gpu_budget_usd=gpu_budget_usd,
        label_budget_usd=label_budget_usd,
        images=images,
        target_accuracy=target_accuracy,
        domain=domain,
        need_pixel_masks=need_pixel_masks,
    )
    rec = recommend(trials, constraints, prices)
    if as_json:
        typer.echo(_json(rec.to_dict()))
    else:
        typer.echo(render_text(rec))


@app.command("report")
def report(
    file: Annotated[Path, typer.Argument(help="Results file (.sqlite).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="HTML file to write.")],
) -> None:
    """Write the self-contained HTML report of a results file."""
    from benchsel.report import write_report

    try:
        path = write_report(file, out)
    except BenchselError as exc:
        raise _fail(exc) from None
    typer.echo(f"wrote {path}")


@app.command("results")
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

    try:
        with open_store(file, must_exist=True) as store:
            frame = trials_frame(store)
    except BenchselError as exc:
        raise _fail(exc) from None
    if csv is not None:
        frame.to_csv(csv, index=False)
        typer.echo(f"wrote {len(frame)} rows to {csv}")
    if as_json:
        typer.echo(_json(frame.to_dict(orient="records")))
    elif csv is None:
        cols = [
            c
            for c in (
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
            if c in frame
        ]
        typer.echo(frame[cols].to_string(index=False))


@app.command("eval")
def evaluate(
    task: Annotated[str, typer.Option(help="bbox, segm, panoptic or semantic.")],
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
    from benchsel.measure.score_files import score_files

    names = [c.strip() for c in classes.split(",")] if classes else None
    try:
        metrics = score_files(task, gt, pred, fmt, names, ignore_index)
    except BenchselError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(_json(metrics))
        return
    main = [k for k in metrics if "/" not in k]
    per_class = [k for k in metrics if "/" in k]
    for key in main:
        typer.echo(f"{key:<16} {metrics[key]:.4f}")
    if per_class:
        typer.echo(
            "per class: " + ", ".join(f"{k.split('/', 1)[1]} {metrics[k]:.3f}" for k in per_class)
        )


@app.command("flops")
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Parameters and FLOPs of an architecture (fvcore; 1 multiply-add = 1 FLOP)."""
    from benchsel.adapters import ClassSpec, build_model
    from benchsel.catalog import load_catalog
    from benchsel.measure.complexity import count_complexity

    try:
        arch = load_catalog().get(arch_id)
        task = "panoptic" if "panoptic" in arch.tasks else arch.primary_task
        if task == "semantic":
            spec = ClassSpec.semantic([f"class_{i}" for i in range(classes)])
        elif task == "panoptic":
            spec = ClassSpec.generic(classes, num_things=max(1, (classes * 80) // 133))
        else:
            spec = ClassSpec.generic(classes)
        model = build_model(arch, spec, variant=variant, input_size=size)
        result = count_complexity(model)
    except BenchselError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(
            json.dumps(
                {"id": arch.id, "variant": variant, "classes": classes, **result.to_dict()},
                indent=2,
            )
        )
        return
    h, w = result.input_size
    typer.echo(
        f"{arch.id}{' (' + variant + ')' if variant else ''} at {h}x{w}, batch 1, "
        f"{classes} classes: {result.params_m:.2f} M params, {result.gflops:.2f} GFLOPs "
        f"({result.gflops_x2:.2f} counting a multiply-add as 2)"
    )
    typer.echo(f"  counted: {result.counted}; {result.convention}")
    if result.unsupported_ops:
        ops = ", ".join(f"{k} x{v}" for k, v in result.unsupported_ops.items())
        typer.echo(f"  not counted (no FLOP formula): {ops}")
    ref = arch.reference
    if ref.gflops is not None and (size is None or tuple(size) == tuple(arch.input_size)):
        typer.echo(
            f"  published: {ref.params_m} M params, {ref.gflops} GFLOPs ({ref.complexity_source})"
        )


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
