"""OpenAI-compatible chat models (OpenAI, vLLM, Ollama, LM Studio, the embedded server).

One code path: LangChain's `ChatOpenAI`. Any other LangChain chat model (the fakes in tests)
goes through the same adapter, so error handling is tested on the path users take.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import httpx
import openai
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import SecretStr

from rehearsal.errors import ModelError
from rehearsal.models.base import Generation, Message

_LC_TYPES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "user": HumanMessage,
    "assistant": AIMessage,
}


def to_langchain(messages: Sequence[Message]) -> list[BaseMessage]:
    """Convert our messages to LangChain message objects."""
    return [_LC_TYPES[m.role](content=m.content) for m in messages]


def describe_failure(exc: Exception) -> str:
    """A short, user-facing reason for a model failure (never includes message text)."""
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return "the model did not answer in time"
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | ConnectionError):
        return "cannot connect to the model server"
    if isinstance(exc, openai.AuthenticationError):
        return "the API key was refused (check OPENAI_API_KEY)"
    if isinstance(exc, openai.NotFoundError):
        return "the server does not know this model name"
    if isinstance(exc, openai.RateLimitError):
        return "the model server is rate-limiting requests; wait and retry"
    if isinstance(exc, openai.APIStatusError):
        return f"the model server answered with HTTP {exc.status_code}"
    return f"the model failed: {type(exc).__name__}"


class LangChainModel:
    """Adapts a LangChain chat model to `ChatModel`, turning every failure into `ModelError`."""

    def __init__(self, llm: BaseChatModel, model_id: str, endpoint: str):
        self.llm = llm
        self.model_id = model_id
        self.endpoint = endpoint

    def stream(self, messages: Sequence[Message], options: Generation) -> Iterator[str]:
        """Stream the reply; sampling options are passed through to the provider."""
        kwargs: dict[str, object] = {"max_tokens": options.max_tokens, **options.extra}
        kwargs["temperature"] = options.temperature
        if options.seed is not None:
            kwargs["seed"] = options.seed
        stop = list(options.stop) or None
        try:
            for chunk in self.llm.stream(to_langchain(messages), stop=stop, **kwargs):  # type: ignore[arg-type]
                text = chunk.content if isinstance(chunk.content, str) else ""
                if text:
                    yield text
        except ModelError:
            raise
        except Exception as exc:  # any provider/transport failure becomes one domain error
            raise ModelError(describe_failure(exc), self.endpoint) from exc

    def close(self) -> None:
        """Nothing to release: connections are pooled by the client."""


def openai_compatible(model_name: str, base_url: str | None, api_key: str | None, timeout: float) -> LangChainModel:
    """Build a model for OpenAI itself or any OpenAI-compatible server."""
    from langchain_openai import ChatOpenAI

    endpoint = base_url or "https://api.openai.com/v1"
    llm = ChatOpenAI(
        model=model_name,
        base_url=base_url,
        api_key=SecretStr(api_key or "not-needed"),  # local servers ignore it; ChatOpenAI insists on one
        timeout=timeout,
        max_retries=1,
        streaming=True,
    )
    return LangChainModel(llm, model_id=f"openai:{model_name}", endpoint=endpoint)
