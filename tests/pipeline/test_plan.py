"""The plan: trials of a suite, their names and their hashes."""

from __future__ import annotations

from pathlib import Path

from benchsel.pipeline.plan import dataset_key, expand_trials
from benchsel.suite import load_suite, parse_suite

ROOT = Path(__file__).resolve().parents[2]

# Computed with benchsel at commit 993498e (before candidate names, candidate training, the
# test split and racing existed) for suites/quickstart.yaml with dataset_key(suite, 100,
# ["a", "b"]): a suite that uses none of the new settings keeps its trials' hashes, so its
# stored results stay finished.
QUICKSTART_KEY = "689ded5835ed6c7f"
QUICKSTART_HASHES = [
    "c8a3bad146561af7",
    "b9d82d8ad6e73636",
    "0aaf1157325d3a91",
    "7e530a2ac48f208a",
    "582e03ca757de2f6",
    "9c6b30e954d406f7",
]


def test_hashes_of_a_suite_without_the_new_settings_are_unchanged():
    suite = load_suite(ROOT / "suites" / "quickstart.yaml")
    key = dataset_key(suite, 100, ["a", "b"])
    assert key == QUICKSTART_KEY
    assert [t.hash for t in expand_trials(suite, key)] == QUICKSTART_HASHES


def _suite(**training):
    return parse_suite(
        {
            "name": "t",
            "task": "detection",
            "dataset": {"path": "data", "format": "coco"},
            "candidates": [
                {"id": "rtmdet-tiny", "name": "scratch", "training": {"seeds": [0, 1]}},
                {"id": "rtmdet-tiny", "name": "low-lr", "training": {"lr": 0.0005}},
            ],
            "training": {"iterations": 10, **training},
        }
    )


def test_named_candidates_expand_with_their_own_settings():
    specs = expand_trials(_suite(), "k")
    assert [(s.option, s.seed, s.training.lr) for s in specs] == [
        ("scratch", 0, None),
        ("scratch", 1, None),
        ("low-lr", 0, 0.0005),
    ]
    assert [s.label for s in specs] == ["scratch", "scratch #1", "low-lr"]
    assert len({s.hash for s in specs}) == 3


def test_racing_seeds_and_limits_leave_hashes_alone():
    plain = expand_trials(_suite(), "k")
    raced = expand_trials(_suite(max_seeds=5, max_hours=2.0), "k", {"low-lr": [0, 1, 2]})
    assert [s.hash for s in raced[:3]] == [s.hash for s in plain]
    assert [(s.option, s.seed) for s in raced[3:]] == [("low-lr", 1), ("low-lr", 2)]
