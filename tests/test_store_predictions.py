"""The store keeps each trial's val predictions (migration m003_val_predictions)."""

from __future__ import annotations

import sqlite3

from benchsel.store import MIGRATIONS, ResultsStore, TrialRecord


def _record(h: str, predictions: bytes | None) -> TrialRecord:
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
        spec={},
        status="ok",
        metrics={"bbox_AP": 0.5},
        val_predictions=predictions,
    )


def test_val_predictions_round_trip_and_are_replaced_with_their_trial(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        assert "m003_val_predictions" in store.applied_migrations
        store.save_trial(_record("a", b"first"))
        store.save_trial(_record("b", None))
        store.save_trial(_record("a", b"second"))  # a re-run replaces the row
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
        store.save_trial(_record("a", b"x"))
        assert store.trials()[0].val_predictions == b"x"
