"""The decision commands: ``recommend`` an architecture under constraints, ``forecast``
accuracy at more labelled images (or the images a target needs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from benchsel.cli.options import JsonOpt, TaskName, TaskOpt, option, print_json, user_errors
from benchsel.errors import BenchselError


@user_errors
def recommend_cmd(
    task: TaskOpt,
    results_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--results", help="Results file of a run; without it, a prior."),
    ] = None,
    min_fps: Annotated[Optional[float], option("Frames per second, batch 1.", min=0)] = None,  # noqa: UP045
    max_latency_ms: Annotated[
        Optional[float],  # noqa: UP045
        option("Latency limit, batch 1, end to end.", min=0),
    ] = None,
    max_gpu_mem_gib: Annotated[
        Optional[float],  # noqa: UP045
        option("GPU memory limit, GiB.", min=0),
    ] = None,
    gpu_budget_hours: Annotated[
        Optional[float],  # noqa: UP045
        option("GPU-hours for a full training run.", min=0),
    ] = None,
    gpu_budget_usd: Annotated[
        Optional[float],  # noqa: UP045
        option("Dollars for a full training run.", min=0),
    ] = None,
    gpu_hour_usd: Annotated[
        Optional[float],  # noqa: UP045
        option("Price of a GPU-hour (default: the run's, else 2.5).", min=0),
    ] = None,
    label_budget_usd: Annotated[
        Optional[float],  # noqa: UP045
        option("Dollars for labelling.", min=0),
    ] = None,
    images: Annotated[
        Optional[int],  # noqa: UP045
        option("Labelled images you have or can afford.", min=1),
    ] = None,
    target_accuracy: Annotated[
        Optional[float],  # noqa: UP045
        option("Minimum primary metric (0..1).", min=0, max=1),
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
        option(
            "Smallest accuracy difference that matters (metric units; default: the run's "
            "constraints.margin, else 0.01).",
            min=0,
            max=1,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recommend an architecture from measured results (or a prior) and your constraints."""
    from benchsel.console import recommendation_text
    from benchsel.recommend.engine import recommend_with
    from benchsel.recommend.inputs import recommendation_inputs
    from benchsel.store import open_store

    trials = None
    run = None
    if results_file is not None:
        with open_store(results_file, must_exist=True) as store:
            trials = store.trials()
            run = store.latest_run()
    flags: dict[str, Any] = {
        "min_fps": min_fps or None,
        "max_latency_ms": max_latency_ms or None,
        "max_gpu_mem_gib": max_gpu_mem_gib or None,
        "gpu_budget_hours": gpu_budget_hours or None,
        "gpu_budget_usd": gpu_budget_usd or None,
        "label_budget_usd": label_budget_usd or None,
        "labelled_images": images,
        "target_accuracy": target_accuracy or None,
        "domain": domain,
        "need_pixel_masks": need_pixel_masks,
    }
    if margin is not None:
        flags["margin"] = margin
    suite = run.suite if run is not None else None
    inputs = recommendation_inputs(suite, flags, gpu_hour_usd, runtime)
    rec = recommend_with(trials, task, inputs)
    if as_json:
        print_json(rec.to_dict())
    else:
        typer.echo(recommendation_text(rec))


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
    from benchsel.console import forecast_text
    from benchsel.recommend.forecast import forecast_points, forecast_trials
    from benchsel.recommend.inputs import recommendation_inputs
    from benchsel.store import open_store
    from benchsel.tasks import TASKS

    if (results_file is None) == (points_file is None):
        raise BenchselError("give exactly one of --results FILE or --points FILE")
    if points_file is not None:
        answer = forecast_points(points_file, at, target, task, units_per_image)
        if as_json:
            print_json(answer.answer)
        else:
            typer.echo(forecast_text([answer]))
        return
    assert results_file is not None
    with open_store(results_file, must_exist=True) as store:
        trials = store.trials()
        run = store.latest_run()
    prices = recommendation_inputs(run.suite if run else None).prices
    answers = forecast_trials(trials, [task] if task else TASKS, at, target, prices)
    if not answers:
        raise BenchselError(f"{results_file} has no successful trials with labelled images")
    if as_json:
        print_json([a.answer for a in answers])
    else:
        typer.echo(forecast_text(answers))
    if all(a.fit is None for a in answers):
        raise typer.Exit(1)
