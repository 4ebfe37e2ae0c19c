"""The SQLite results store: migrations, one transaction per trial, the run lock."""

from __future__ import annotations

import sqlite3

import pytest

from benchsel.errors import BenchselError
from benchsel.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ResultsStore,
    StoreLockedError,
    TrialRecord,
    metric_unit,
    trials_frame,
)


def _record(h="abc", status="ok", val_predictions=None, **metrics):
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
        val_predictions=val_predictions,
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


# Val predictions (migration m003_val_predictions)


def test_val_predictions_round_trip_and_are_replaced_with_their_trial(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        assert "m003_val_predictions" in store.applied_migrations
        store.save_trial(_record("a", val_predictions=b"first"))
        store.save_trial(_record("b", val_predictions=None))
        store.save_trial(_record("a", val_predictions=b"second"))  # a re-run replaces the row
        got = {t.hash: t.val_predictions for t in store.trials()}
    assert got == {"a": b"second", "b": None}
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM val_predictions").fetchone()
    assert rows == (1,)


def test_a_store_from_before_gets_the_table_by_name(tmp_path):
    """A store written with the first two migrations only is upgraded in place."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied REAL)")
    for migration in MIGRATIONS[:2]:
        migration(conn)
        conn.execute("INSERT INTO _migrations VALUES (?, 0)", (migration.__name__,))
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    with ResultsStore(path) as store:
        assert store.applied_migrations[-1] == "m003_val_predictions"
        store.save_trial(_record("a", val_predictions=b"x"))
        assert store.trials()[0].val_predictions == b"x"


def test_latest_run_is_a_typed_record_with_what_the_run_added(tmp_path):
    from benchsel.store import RunRecord

    with ResultsStore(tmp_path / "r.sqlite") as store:
        assert store.latest_run() is None
        store.start_run("first", {"name": "first"}, {"torch": "1"}, {"prepared": {"n": 1}})
        run_id = store.start_run("second", {"name": "second"}, {"torch": "2"}, {})
        store.annotate_latest_run("race", {"rounds": 2})
        store.finish_run(run_id)
        run = store.latest_run()
    assert isinstance(run, RunRecord)
    assert (run.suite_name, run.suite, run.environment) == (
        "second",
        {"name": "second"},
        {"torch": "2"},
    )
    assert run.dataset == {"race": {"rounds": 2}}
    assert run.started is not None and run.finished is not None and run.finished >= run.started
