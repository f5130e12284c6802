"""Language models behind one interface, chosen by a plain string.

- `local` (default): the embedded Qwen2.5-Coder-1.5B-Instruct, served in-process.
- `local-small`: the embedded 0.5B model (faster, weaker).
- `openai:<model>`: OpenAI with OPENAI_API_KEY, or any OpenAI-compatible server when
  REHEARSAL_BASE_URL is set (vLLM, Ollama, LM Studio).
- `fake`, `echo`: offline fakes for tests and demos.
"""

from __future__ import annotations

from rehearsal.errors import ConfigError
from rehearsal.models.base import ChatModel, Generation, Message
from rehearsal.models.fakes import EchoModel, QueuedModel
from rehearsal.settings import Settings

__all__ = ["ChatModel", "Generation", "Message", "describe_model_choice", "get_model"]

MODEL_CHOICES = ("local", "local-small", "openai:<model>", "fake", "echo")


def describe_model_choice(settings: Settings) -> str:
    """A one-line description of the configured model, for status lines."""
    if settings.model.startswith("openai:") and settings.base_url:
        return f"{settings.model} at {settings.base_url}"
    return settings.model


def get_model(settings: Settings) -> ChatModel:
    """Build the model named by `settings.model`; raise ConfigError for an unknown name."""
    name = settings.model.strip()
    if name == "fake":
        return QueuedModel()
    if name == "echo":
        return EchoModel()
    if name in ("local", "local-small"):
        from rehearsal.models.local import local_model

        return local_model(name, settings.model_cache_dir, settings.threads, settings.timeout)
    if name.startswith("openai:") and name.removeprefix("openai:"):
        if not settings.base_url and not settings.api_key:
            raise ConfigError(f"model {name} needs OPENAI_API_KEY, or REHEARSAL_BASE_URL for a compatible server")
        from rehearsal.models.openai_compat import openai_compatible

        return openai_compatible(name.removeprefix("openai:"), settings.base_url, settings.api_key, settings.timeout)
    raise ConfigError(f"unknown model '{name}'; choose one of: {', '.join(MODEL_CHOICES)}")
