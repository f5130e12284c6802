"""tools/near_copies.py finds candidates that repeat a project line, and prints ids and cosines, never text."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import near_copies

REFERENCE = "rehearsal/data/exemplars/pitfalls-2.jsonl"


def test_a_copied_line_is_flagged_by_id_and_its_text_never_printed(tmp_path, capsys):
    first = json.loads((near_copies.ROOT / REFERENCE).read_text(encoding="utf-8").splitlines()[0])
    novel = "Could we swap who drives the school run on Thursdays, starting next week?"
    candidates = tmp_path / "candidates.jsonl"
    candidates.write_text(
        json.dumps({"id": "cand-1", "text": first["text"]}) + "\n" + json.dumps({"id": "cand-2", "text": novel}) + "\n",
        encoding="utf-8",
    )
    kept = tmp_path / "kept.jsonl"

    assert near_copies.main([str(candidates), "--reference", REFERENCE, "--keep", str(kept)]) == 0

    out = capsys.readouterr().out
    assert f"cand-1  pitfalls-2.jsonl:{first['id']}  1.000" in out
    assert "cand-2  " not in out
    assert "1 of 2 candidates reach 0.95 somewhere" in out
    assert first["text"] not in out and novel not in out
    assert [json.loads(line)["id"] for line in kept.read_text(encoding="utf-8").splitlines()] == ["cand-2"]


def test_a_malformed_candidate_names_file_and_line(tmp_path):
    candidates = tmp_path / "candidates.jsonl"
    candidates.write_text('{"id": "a", "text": "fine"}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"candidates\.jsonl:2: needs a JSON object with 'id' and 'text'"):
        near_copies.main([str(candidates), "--reference", REFERENCE])
