"""The suite file: what to benchmark, on which data, under which budgets and constraints.

Validated once, strictly, at the edge (unknown keys are errors); the rest of benchsel trusts it.
Relative paths resolve against the suite file's folder. The sections are in :mod:`.sections`;
this module holds the suite as a whole and how it is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from benchsel.catalog import load_catalog
from benchsel.errors import BenchselError, SuiteError
from benchsel.suite.sections import (
    Candidate,
    Constraints,
    CostSpec,
    DataFormat,
    DatasetSpec,
    Device,
    LabellingPrices,
    MeasurementSpec,
    Precision,
    PriceRange,
    Runtime,
    SampleSpec,
    SemanticLoss,
    Size,
    SplitSpec,
    StrictModel,
    TrainingSpec,
)
from benchsel.tasks import Task


class Suite(StrictModel):
    """A benchmark suite: candidates x variants x data fractions x seeds on one dataset."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    task: Task | None = Field(None, description="Default task of the candidates.")
    dataset: DatasetSpec
    candidates: list[Candidate] = Field(min_length=1)
    training: TrainingSpec = TrainingSpec()
    measurement: MeasurementSpec = MeasurementSpec()
    constraints: Constraints = Constraints()
    labelling: LabellingPrices = LabellingPrices()
    cost: CostSpec = CostSpec()
    output: Path = Path("results")
    report: Path | None = Field(
        None, description="HTML report to write (default: reports/<name>.html beside the suite)."
    )

    @model_validator(mode="after")
    def _candidates_exist(self) -> Suite:
        catalog = load_catalog()
        problems = []
        names: dict[str, int] = {}
        for i, cand in enumerate(self.candidates):
            for name in cand.option_names():
                first = names.setdefault(name, i)
                if first != i:
                    problems.append(
                        f"candidates.{i}.name: {name!r} is also candidates.{first}: give each "
                        "entry of the same architecture its own `name`"
                    )
            if cand.training:
                try:
                    cand.training_over(self.training)
                except ValidationError as exc:
                    problems.append(
                        f"candidates.{i}.training: "
                        + "; ".join(
                            f"{'.'.join(str(p) for p in e['loc']) or 'training'}: "
                            f"{e['msg'].removeprefix('Value error, ')}"
                            for e in exc.errors()
                        )
                    )
            try:
                arch = catalog.get(cand.id)
                for v in cand.variants:
                    arch.variant(v)
            except BenchselError as exc:
                problems.append(f"candidates.{i}.id: {exc}")
                continue
            if cand.input_size is not None:
                try:
                    arch.check_input_size(cand.input_size)
                except BenchselError as exc:
                    problems.append(f"candidates.{i}.input_size: {exc}")
            deploy = self.measurement.input_size
            if deploy is not None and not arch.fixed_input_size:
                try:
                    arch.check_input_size(deploy)
                except BenchselError as exc:
                    problems.append(f"measurement.input_size: {exc}")
            task = cand.task or self.task or arch.primary_task
            if task not in arch.tasks:
                problems.append(
                    f"candidates.{i}.id: {cand.id} does not support task {task!r} "
                    f"(it supports {', '.join(arch.tasks)})"
                )
            if cand.losses and arch.primary_task != "semantic":
                problems.append(f"candidates.{i}.losses: loss variants are for semantic models")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def task_of(self, candidate: Candidate) -> Task:
        """The task a candidate is benchmarked on."""
        return candidate.task or self.task or load_catalog().get(candidate.id).primary_task

    def resolve_paths(self, base: Path) -> Suite:
        """A copy whose relative paths are anchored at ``base`` (the suite's folder)."""
        out = self.model_copy(deep=True)
        if out.dataset.path is not None and not out.dataset.path.is_absolute():
            out.dataset.path = (base / out.dataset.path).resolve()
        if not out.output.is_absolute():
            out.output = (base / out.output).resolve()
        report = out.report or default_report_path(out.name)
        out.report = report if report.is_absolute() else (base / report).resolve()
        return out


def default_report_path(suite_name: str) -> Path:
    """Where a suite's report goes when it names none (relative: beside the suite file)."""
    return Path("reports") / f"{suite_name}.html"


def format_validation_error(exc: ValidationError) -> str:
    """One bullet per problem: ``key.path: message``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def parse_suite(data: Any, where: str = "suite") -> Suite:
    """Validate already-parsed suite data; raises SuiteError naming each bad key path."""
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: expected a mapping of suite keys, got {type(data).__name__}")
    try:
        return Suite.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(f"{where} is invalid:\n{format_validation_error(exc)}") from None


def load_suite(path: Path) -> Suite:
    """Read, validate and path-resolve a suite YAML file (safe loader: no object construction)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read suite file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(f"{path} is not valid YAML{where}: {problem}") from None
    return parse_suite(data, str(path)).resolve_paths(path.parent.resolve())


def suite_json_schema() -> str:
    """JSON Schema of the suite file, for editor completion."""
    schema = Suite.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "benchsel suite"
    return json.dumps(schema, indent=2)


__all__ = [
    "Candidate",
    "Constraints",
    "CostSpec",
    "DataFormat",
    "DatasetSpec",
    "Device",
    "LabellingPrices",
    "MeasurementSpec",
    "Precision",
    "PriceRange",
    "Runtime",
    "SampleSpec",
    "SemanticLoss",
    "Size",
    "SplitSpec",
    "StrictModel",
    "Suite",
    "TrainingSpec",
    "default_report_path",
    "format_validation_error",
    "load_suite",
    "parse_suite",
    "suite_json_schema",
]
