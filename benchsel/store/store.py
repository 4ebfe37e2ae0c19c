"""The SQLite results file: one transaction per finished trial, a single-writer run lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchsel.errors import BenchselError
from benchsel.formatting import finite_or_none
from benchsel.store.migrations import applied_migrations, migrate
from benchsel.store.records import RunRecord, TrialRecord, _trial_from_row, _trial_row, metric_unit


class StoreLockedError(BenchselError):
    """Another benchsel run holds the store."""


class ResultsStore:
    """A SQLite results file. Use as a context manager or call ``close()``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            migrate(self.conn, self.path, self.transaction)
        except sqlite3.DatabaseError as exc:
            raise BenchselError(
                f"{self.path} is not a usable benchsel results file: {exc}"
            ) from None
        self._lock_fd: int | None = None

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.unlock()
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; a failed write (disk full, I/O error) rolls back and raises a
        BenchselError, leaving rows written before intact."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise BenchselError(
                f"cannot write results to {self.path}: {exc}. Earlier results are intact; "
                "free some space and run again to resume."
            ) from None

    @property
    def applied_migrations(self) -> list[str]:
        """Names of the applied migrations, in the order they were applied."""
        return applied_migrations(self.conn)

    @property
    def schema_version(self) -> int:
        return len(self.applied_migrations)

    # -- single-writer lock: two `benchsel run` on one store must not interleave

    def lock(self) -> None:
        """Take the run lock or raise StoreLockedError naming the holder."""
        lock_path = self.path.with_suffix(self.path.suffix + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StoreLockedError(
                f"{self.path} is in use by another benchsel run ({holder}); wait for it to "
                "finish or use another output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}".encode())
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- writing

    def start_run(
        self,
        suite_name: str,
        suite: dict[str, Any],
        environment: dict[str, Any],
        dataset: dict[str, Any],
    ) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (suite_name, suite_json, started, environment_json, "
                "dataset_json) VALUES (?, ?, ?, ?, ?)",
                (
                    suite_name,
                    json.dumps(suite, default=str),
                    time.time(),
                    json.dumps(environment, default=str),
                    json.dumps(dataset, default=str),
                ),
            )
            return int(cur.lastrowid or 0)

    def annotate_latest_run(self, key: str, value: Any) -> None:
        """Add ``key`` to the latest run's dataset record (e.g. the racing log)."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT id, dataset_json FROM runs ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return
            data = json.loads(row[1] or "{}")
            data[key] = value
            conn.execute(
                "UPDATE runs SET dataset_json = ? WHERE id = ?",
                (json.dumps(data, default=str), row[0]),
            )

    def finish_run(self, run_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), run_id))

    def save_trial(self, record: TrialRecord, run_id: int | None = None) -> None:
        """Replace the trial's row and all its metrics in one transaction."""
        row = _trial_row(record)
        row["run_id"] = run_id
        with self.transaction() as conn:
            conn.execute("DELETE FROM trials WHERE hash = ?", (record.hash,))
            conn.execute(
                f"INSERT INTO trials ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            conn.executemany(
                "INSERT INTO metrics (trial_hash, name, value, unit) VALUES (?, ?, ?, ?)",
                [
                    (record.hash, name, finite_or_none(value), metric_unit(name))
                    for name, value in sorted(record.metrics.items())
                ],
            )
            conn.executemany(
                "INSERT INTO eval_states (trial_hash, evaluation, data) VALUES (?, ?, ?)",
                [(record.hash, k, v) for k, v in sorted(record.eval_states.items())],
            )
            if record.val_predictions is not None:
                conn.execute(
                    "INSERT INTO val_predictions (trial_hash, data) VALUES (?, ?)",
                    (record.hash, record.val_predictions),
                )

    # -- reading

    def finished_hashes(self, statuses: tuple[str, ...] = ("ok",)) -> set[str]:
        marks = ",".join("?" * len(statuses))
        rows = self.conn.execute(f"SELECT hash FROM trials WHERE status IN ({marks})", statuses)
        return {r[0] for r in rows}

    def trials(self) -> list[TrialRecord]:
        """Every stored trial with its metrics, ordered by start time."""
        cur = self.conn.execute("SELECT * FROM trials ORDER BY started, hash")
        assert cur.description[0][0] == "hash"
        cols = [c[0] for c in cur.description]
        metrics: dict[str, dict[str, float | None]] = {}
        for trial_hash, name, value in self.conn.execute(
            "SELECT trial_hash, name, value FROM metrics"
        ):
            metrics.setdefault(trial_hash, {})[name] = value
        states: dict[str, dict[str, bytes]] = {}
        for trial_hash, name, data in self.conn.execute(
            "SELECT trial_hash, evaluation, data FROM eval_states"
        ):
            states.setdefault(trial_hash, {})[name] = bytes(data)
        predictions = {
            trial_hash: bytes(data)
            for trial_hash, data in self.conn.execute(
                "SELECT trial_hash, data FROM val_predictions"
            )
        }
        return [
            _trial_from_row(
                dict(zip(cols, row, strict=True)),
                metrics.get(row[0], {}),
                states.get(row[0], {}),
                predictions.get(row[0]),
            )
            for row in cur.fetchall()
        ]

    def latest_run(self) -> RunRecord | None:
        """The last ``benchsel run`` on this store (None before any)."""
        row = self.conn.execute(
            "SELECT suite_name, suite_json, started, finished, environment_json, dataset_json "
            "FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return RunRecord(
            suite_name=row[0],
            suite=json.loads(row[1]),
            started=row[2],
            finished=row[3],
            environment=json.loads(row[4] or "{}"),
            dataset=json.loads(row[5] or "{}"),
        )

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def open_store(path: Path, must_exist: bool = False) -> ResultsStore:
    if must_exist and not Path(path).is_file():
        raise BenchselError(f"results file {path} not found")
    return ResultsStore(Path(path))
