"""The SQLite session store: round trip, deletion, and refusing a corrupt file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearsal.errors import StoreError
from rehearsal.store import Store


def test_round_trip_and_delete(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    sid = store.create_session("boss-extra-shifts", "medium", "fake", "counterpart.screenplay.v1")
    store.add_turn(sid, 0, "counterpart", "Hello.", 5.0, {"opening": True})
    store.add_turn(sid, 1, "user", "Hi.", None, {})
    store.add_event(sid, 1, "guard", {"fallback": True})
    store.end_session(sid)
    assert [t["text"] for t in store.turns(sid)] == ["Hello.", "Hi."]
    assert store.sessions()[0].ended_at is not None
    assert store.sessions()[0].prompt_id == "counterpart.screenplay.v1"
    reopened = Store(tmp_path / "s.db")
    assert reopened.events(sid) == [{"turn_idx": 1, "kind": "guard", "detail": {"fallback": True}}]
    reopened.delete_all()
    assert reopened.sessions() == [] and reopened.turns(sid) == []


def test_wal_mode(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_corrupt_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="cannot be opened"):
        Store(path)
    assert path.read_bytes() == before


def test_truncated_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store(path)
    sid = store.create_session("x", "medium", "fake", "p")
    for i in range(300):
        store.add_turn(sid, i, "user", "a line of text " * 20, None, {})
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a crash or a bad copy cut the file
    before = path.read_bytes()
    with pytest.raises(StoreError, match="cannot be opened"):
        Store(path)
    assert path.read_bytes() == before


def test_a_crash_mid_write_loses_nothing_already_written(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "s.db"
    script = f"""
import os
from pathlib import Path
from rehearsal.store import Store
store = Store(Path({str(path)!r}))
sid = store.create_session("x", "medium", "fake", "p")
for i in range(50):
    store.add_turn(sid, i, "user", "line %d" % i, None, {{}})
store.db.execute("BEGIN")
store.db.execute("INSERT INTO turns VALUES (?, 50, 'user', 'never committed', NULL, '{{}}', 'now')", (sid,))
os._exit(1)  # the process dies inside a transaction
"""
    subprocess.run([sys.executable, "-c", script], check=False)
    store = Store(path)
    turns = store.turns(store.sessions()[0].id)
    assert [t["text"] for t in turns] == [f"line {i}" for i in range(50)]


def test_retention_deletes_only_sessions_past_the_period(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    old = store.create_session("x", "medium", "fake", "p")
    new = store.create_session("y", "medium", "fake", "p")
    store.add_turn(old, 0, "user", "an old line", None, {})
    store.db.execute("UPDATE sessions SET started_at = '2020-01-01T00:00:00+00:00' WHERE id = ?", (old,))
    assert store.purge_older_than(30) == 1
    assert [s.id for s in store.sessions()] == [new]
    assert store.turns(old) == []
    assert b"an old line" not in (tmp_path / "s.db").read_bytes()
