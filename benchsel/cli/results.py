"""Commands that read a results file: export its rows, write its report. (``recommend`` and
``forecast`` read one too: they are in :mod:`benchsel.cli.decide`.)"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from benchsel.cli.options import ResultsPath, print_json, user_errors


@user_errors
def report(
    file: ResultsPath,
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("-o", "--out", help="HTML file (default: the suite's report path)."),
    ] = None,
) -> None:
    """Write the self-contained HTML report of a results file."""
    from benchsel.report import write_report
    from benchsel.store import open_store
    from benchsel.suite import default_report_path

    if out is None:
        with open_store(file, must_exist=True) as store:
            run = store.latest_run()
        stored = (run.suite if run else {}).get("report")
        out = Path(stored) if stored else default_report_path(file.stem)
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


@user_errors
def results(
    file: ResultsPath,
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
        print_json(frame.to_dict(orient="records"))
    elif csv is None:
        cols = [c for c in SUMMARY_COLUMNS if c in frame]
        typer.echo(frame[cols].to_string(index=False))
