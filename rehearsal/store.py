"""The local session store (SQLite): every turn is written as it happens, so nothing is lost.

The file lives in the user's data folder and is the only place message text is kept. WAL mode
and one transaction per write let it survive a crash mid-write.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rehearsal.errors import StoreError

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    scenario_id TEXT NOT NULL,
    level TEXT NOT NULL,
    mode TEXT NOT NULL DEFAULT 'client',
    model_id TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    speaker TEXT NOT NULL CHECK (speaker IN ('user', 'counterpart')),
    text TEXT NOT NULL,
    tension REAL,
    meta TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    turn_idx INTEGER,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


SESSION_COLUMNS = "id, scenario_id, level, mode, model_id, prompt_id, started_at, ended_at"  # = SessionInfo's fields


@dataclass(frozen=True)
class SessionInfo:
    """One stored session's header."""

    id: str
    scenario_id: str
    level: str
    mode: str
    model_id: str
    prompt_id: str
    started_at: str
    ended_at: str | None


class Store:
    """Sessions, turns and events in one SQLite file."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA foreign_keys = ON")
            check = self.db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check[0] if check else 'no answer'}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.executescript(SCHEMA)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the session store {path} cannot be opened ({exc}); it was left untouched. "
                "Move it aside to start a fresh store."
            ) from None

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            with self.db:
                self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"could not write to the session store {self.path}: {exc}") from None

    def create_session(self, scenario_id: str, level: str, model_id: str, prompt_id: str, mode: str = "client") -> str:
        """Start a session record and return its id."""
        session_id = uuid.uuid4().hex[:12]
        self._write(
            "INSERT INTO sessions (id, scenario_id, level, mode, model_id, prompt_id, started_at) VALUES (?,?,?,?,?,?,?)",
            (session_id, scenario_id, level, mode, model_id, prompt_id, _now()),
        )
        return session_id

    def add_turn(
        self, session_id: str, idx: int, speaker: str, text: str, tension: float | None, meta: Mapping[str, Any]
    ) -> None:
        """Record one line of the conversation."""
        self._write(
            "INSERT INTO turns (session_id, idx, speaker, text, tension, meta, created_at) VALUES (?,?,?,?,?,?,?)",
            (session_id, idx, speaker, text, tension, json.dumps(meta), _now()),
        )

    def add_event(self, session_id: str, turn_idx: int | None, kind: str, detail: dict[str, Any]) -> None:
        """Record something that happened (a guard replacement, a model error)."""
        self._write(
            "INSERT INTO events (session_id, turn_idx, kind, detail, created_at) VALUES (?,?,?,?,?)",
            (session_id, turn_idx, kind, json.dumps(detail), _now()),
        )

    def mark_rewound(self, session_id: str, idxs: list[int]) -> None:
        """Flag lines the user took back; they stay in the record as the first try."""
        try:
            with self.db:
                for idx in idxs:
                    row = self.db.execute(
                        "SELECT meta FROM turns WHERE session_id = ? AND idx = ?", (session_id, idx)
                    ).fetchone()
                    if row is not None:
                        meta = {**json.loads(row[0]), "rewound": True}
                        self.db.execute(
                            "UPDATE turns SET meta = ? WHERE session_id = ? AND idx = ?",
                            (json.dumps(meta), session_id, idx),
                        )
        except sqlite3.Error as exc:
            raise StoreError(f"could not write to the session store {self.path}: {exc}") from None

    def end_session(self, session_id: str) -> None:
        """Mark a session finished."""
        self._write("UPDATE sessions SET ended_at = ? WHERE id = ?", (_now(), session_id))

    def sessions(self) -> list[SessionInfo]:
        """All sessions, newest first."""
        rows = self.db.execute(f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY started_at DESC, rowid DESC")
        return [SessionInfo(*row) for row in rows]

    def turns(self, session_id: str) -> list[dict[str, Any]]:
        """A session's lines in order, with their metadata."""
        rows = self.db.execute(
            "SELECT idx, speaker, text, tension, meta FROM turns WHERE session_id = ? ORDER BY idx", (session_id,)
        )
        return [
            {"idx": i, "speaker": s, "text": t, "tension": m, "meta": json.loads(meta)} for i, s, t, m, meta in rows
        ]

    def session(self, session_id: str) -> SessionInfo | None:
        """One session's header, or None."""
        row = self.db.execute(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?",
            (session_id,),
        ).fetchone()
        return SessionInfo(*row) if row else None

    def reports(self) -> dict[str, dict[str, Any]]:
        """The stored end-of-session report of every finished session, by session id."""
        rows = self.db.execute("SELECT session_id, detail FROM events WHERE kind = 'report' ORDER BY rowid")
        return {sid: json.loads(detail) for sid, detail in rows}

    def events(self, session_id: str) -> list[dict[str, Any]]:
        """A session's events in order."""
        rows = self.db.execute(
            "SELECT turn_idx, kind, detail FROM events WHERE session_id = ? ORDER BY rowid", (session_id,)
        )
        return [{"turn_idx": i, "kind": k, "detail": json.loads(d)} for i, k, d in rows]

    def delete_session(self, session_id: str) -> None:
        """Remove one session with its turns and events."""
        self._write("DELETE FROM sessions WHERE id = ?", (session_id,))

    def purge_older_than(self, days: float) -> int:
        """Delete sessions started more than `days` ago (the retention setting); returns how many."""
        cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
        old = self.db.execute("SELECT COUNT(*) FROM sessions WHERE started_at < ?", (cutoff,)).fetchone()[0]
        if old:
            self._write("DELETE FROM sessions WHERE started_at < ?", (cutoff,))
            self.db.execute("VACUUM")
        return int(old)

    def delete_all(self) -> None:
        """Remove every session, then compact the file so deleted text is not left on disk."""
        self._write("DELETE FROM sessions", ())
        self.db.execute("VACUUM")

    def close(self) -> None:
        """Close the connection."""
        self.db.close()
