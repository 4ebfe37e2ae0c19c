"""The built-in sample data prepared for training in adapter tests (no suite run)."""

from __future__ import annotations

from pathlib import Path


def prepare_sample(work: Path, arch_id: str, tasks: set[str], images: int) -> object:
    """``images`` generated 128 px images prepared under ``work`` for ``tasks``, as a suite
    with ``arch_id`` as its one candidate would prepare them."""
    from benchsel.pipeline.layout import RunLayout
    from benchsel.pipeline.prepare import prepare
    from benchsel.suite import parse_suite

    suite = parse_suite(
        {
            "name": "sample",
            "dataset": {"sample": {"images": images, "size": 128}},
            "candidates": [{"id": arch_id}],
            "output": str(work / "out"),
        }
    )
    return prepare(suite, tasks, RunLayout(work / "work"))
