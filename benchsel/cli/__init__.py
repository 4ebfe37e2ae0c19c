"""The ``benchsel`` command line: parse, call one function, render (:mod:`benchsel.console`).

This module is the command table: the app, its two groups and every command in the order
``benchsel --help`` lists them; the commands live by group in ``tools`` (catalog, FLOPs, eval,
doctor), ``suite`` (suite check/schema, run), ``decide`` (recommend, forecast), ``results``
(results, report) and ``data``. A user's mistake raises a :class:`BenchselError`;
``options.user_errors`` turns it into a red message and the error's exit code in one place,
without a traceback. Heavy imports stay inside commands, so ``benchsel --help`` does not import
torch.
"""

from __future__ import annotations

import sys

import typer

from benchsel.cli import data, decide, results, suite, tools

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

app.command("list")(tools.list_architectures)
suite_app.command("check")(suite.suite_check)
suite_app.command("schema")(suite.suite_schema)
data_app.command("check")(data.data_check)
data_app.command("cost")(data.data_cost)
data_app.command("convert")(data.data_convert)
data_app.command("sample")(data.data_sample)
data_app.command("label-issues")(data.data_label_issues)
app.command("run")(suite.run)
app.command("recommend")(decide.recommend_cmd)
app.command("report")(results.report)
app.command("results")(results.results)
app.command("eval")(tools.evaluate)
app.command("flops")(tools.flops)
app.command("forecast")(decide.forecast)
app.command("doctor")(tools.doctor)


def main() -> None:  # pragma: no cover - console entry point alias
    sys.exit(app())
