"""The SQLite results store: migrations, one transaction per trial, the run lock."""

from __future__ import annotations

import sqlite3

import pytest

from benchsel.errors import BenchselError
from benchsel.store import (
    SCHEMA_VERSION,
    ResultsStore,
    StoreLockedError,
    TrialRecord,
    metric_unit,
    trials_frame,
)


def _record(h="abc", status="ok", **metrics):
    return TrialRecord(
        hash=h,
        suite_name="s",
        arch_id="rtmdet-tiny",
        family="yolo",
        task="detection",
        variant="default",
        loss=None,
        data_fraction=1.0,
        seed=0,
        spec={"x": 1},
        status=status,
        metrics=metrics or {"bbox_AP": 0.5},
    )


def test_new_store_is_migrated_to_current_version(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.integrity_ok()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(BenchselError, match="newer than this benchsel"):
        ResultsStore(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "r.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BenchselError, match="not a usable benchsel results file"):
        ResultsStore(path)


def test_save_replaces_a_trial_and_its_metrics(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.save_trial(_record(bbox_AP=0.1, latency_e2e_p50_ms=5.0))
        store.save_trial(_record(bbox_AP=0.2))
        (t,) = store.trials()
        assert t.metrics == {"bbox_AP": 0.2}
        assert store.finished_hashes() == {"abc"}
        store.save_trial(_record("def", status="failed"))
        assert store.finished_hashes() == {"abc"}
        assert store.finished_hashes(("ok", "failed")) == {"abc", "def"}


def test_failed_write_leaves_previous_results(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.save_trial(_record(bbox_AP=0.3))
        bad = _record(status="exploded")  # violates the status CHECK constraint
        with pytest.raises(sqlite3.IntegrityError):
            store.save_trial(bad)
        (t,) = store.trials()
        assert t.status == "ok" and t.metrics == {"bbox_AP": 0.3}


def test_nan_metrics_are_stored_as_null(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.save_trial(_record(bbox_APl=float("nan"), bbox_AP=0.4))
        assert store.trials()[0].metrics["bbox_APl"] is None


def test_second_run_on_the_same_store_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    first = ResultsStore(path)
    first.lock()
    second = ResultsStore(path)
    with pytest.raises(StoreLockedError, match="in use by another benchsel run"):
        second.lock()
    first.close()
    second.lock()  # free again once the first run ends
    second.close()


def test_units_come_from_metric_names():
    assert metric_unit("latency_e2e_p50_ms") == "ms"
    assert metric_unit("gflops") == "GFLOPs"
    assert metric_unit("params_m") == "M"
    assert metric_unit("label_cost_usd") == "USD"
    assert metric_unit("throughput_fps_b8") == "frames/s"
    assert metric_unit("train_images_per_s") == "images/s"
    assert metric_unit("bbox_AP") == "fraction"


def test_frame_has_one_row_per_trial(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.save_trial(_record("a", bbox_AP=0.1))
        store.save_trial(_record("b", bbox_AP=0.2))
        frame = trials_frame(store)
    assert list(frame["hash"]) == ["a", "b"] and list(frame["bbox_AP"]) == [0.1, 0.2]
