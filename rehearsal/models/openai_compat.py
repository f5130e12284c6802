"""OpenAI-compatible chat models (OpenAI, vLLM, Ollama, LM Studio, the embedded server).

One code path: LangChain's `ChatOpenAI`. Any other LangChain chat model (the fakes in tests)
goes through the same adapter, so error handling is tested on the path users take.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import httpx
import httpx2
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


# openai>=3 speaks HTTP through httpx2, an API-identical copy of httpx with its own classes;
# LangChain and others still raise httpx's, so both are recognised.
_TIMEOUTS = (openai.APITimeoutError, httpx.TimeoutException, httpx2.TimeoutException, TimeoutError)
_CONNECTION_LOST = (openai.APIConnectionError, httpx.TransportError, httpx2.TransportError, ConnectionError)


def describe_failure(exc: Exception, started: bool = False, timeout: float | None = None) -> str:
    """A short, user-facing reason for a model failure (never includes message text).

    `started`: part of the reply had already arrived; `timeout`: the limit in seconds, if known.
    """
    if isinstance(exc, _TIMEOUTS):
        limit = f" within {timeout:g} s (REHEARSAL_TIMEOUT sets the limit)" if timeout else ""
        if started:
            return f"the model timed out in the middle of the reply: it did not finish{limit}"
        return f"the model timed out: no answer{limit}"
    if isinstance(exc, _CONNECTION_LOST):
        if started:
            return "the connection to the model server broke off in the middle of the reply"
        return "cannot connect to the model server"
    if isinstance(exc, openai.AuthenticationError):
        return "the API key was refused (check OPENAI_API_KEY)"
    if isinstance(exc, openai.NotFoundError):
        return "the server does not know this model name"
    if isinstance(exc, openai.RateLimitError):
        return "the model server is rate-limiting requests; wait and retry"
    if isinstance(exc, openai.APIStatusError):
        return f"the model server answered with HTTP {exc.status_code}"
    if isinstance(exc, openai.APIError):
        return "the model server reported an error instead of a reply"
    if isinstance(exc, ValueError | TypeError | AttributeError | KeyError):
        # what the SDK raises on a body it cannot read: not JSON, not UTF-8, not the shape of a chat
        # stream, or no event at all (LangChain: "No generation chunks were returned")
        return "the model server sent something that is not a chat reply (is it an OpenAI-compatible /v1 endpoint?)"
    return f"the model failed: {type(exc).__name__}"


class _BodyDeadline(httpx2.SyncByteStream):
    """A response body that fails with `ReadTimeout` once its request's `deadline` (monotonic) has passed."""

    def __init__(self, response: httpx2.Response, deadline: float):
        assert isinstance(response.stream, httpx2.SyncByteStream)  # the client is synchronous
        self.stream, self.request = response.stream, response.request
        self.deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        for part in self.stream:
            if time.monotonic() > self.deadline:
                raise httpx2.ReadTimeout("the reply took longer than the timeout", request=self.request)
            yield part

    def close(self) -> None:
        self.stream.close()


_DEADLINE = "rehearsal_deadline"  # request extension: when the whole reply must be in (time.monotonic())


def deadline_client(seconds: float) -> httpx2.Client:
    """The OpenAI SDK's HTTP client, with every reply cut off `seconds` after its request was sent.

    httpx's timeout applies to each read, so a server that keeps sending keep-alive comments but
    never a reply would otherwise hold the user for ever.
    """

    def stamp(request: httpx2.Request) -> None:
        request.extensions[_DEADLINE] = time.monotonic() + seconds

    def limit(response: httpx2.Response) -> None:
        deadline = response.request.extensions.get(_DEADLINE, time.monotonic() + seconds)
        response.stream = _BodyDeadline(response, deadline)

    return openai.DefaultHttpxClient(event_hooks={"request": [stamp], "response": [limit]})


REFUSED_PAUSE = 0.5  # seconds before trying a refused connection once more (a local server restarting)


def refused(exc: BaseException | None) -> bool:
    """Did the connection fail before any request went out (refused, unknown host)? Then one more try is cheap.

    A timeout is not: trying again would make the user wait the whole limit a second time.
    """
    while exc is not None:
        if isinstance(exc, _TIMEOUTS):
            return False
        if isinstance(exc, httpx.ConnectError | httpx2.ConnectError | ConnectionRefusedError):
            return True
        exc = exc.__cause__
    return False


class LangChainModel:
    """Adapts a LangChain chat model to `ChatModel`, turning every failure into `ModelError`.

    `needs_finish`: the provider marks the end of every complete reply (OpenAI's `finish_reason`),
    so a stream that stops without it was cut off, even when the connection closed cleanly.
    """

    def __init__(
        self,
        llm: BaseChatModel,
        model_id: str,
        endpoint: str,
        timeout: float | None = None,
        needs_finish: bool = False,
    ):
        self.llm = llm
        self.model_id = model_id
        self.endpoint = endpoint
        self.timeout = timeout
        self.needs_finish = needs_finish

    def stream(self, messages: Sequence[Message], options: Generation) -> Iterator[str]:
        """Stream the reply; sampling options are passed through to the provider.

        A refused connection is tried once more after `REFUSED_PAUSE`; nothing else is retried.
        """
        try:
            yield from self._stream_once(messages, options)
        except ModelError as exc:
            if not refused(exc.__cause__):
                raise
            time.sleep(REFUSED_PAUSE)
            yield from self._stream_once(messages, options)

    def _stream_once(self, messages: Sequence[Message], options: Generation) -> Iterator[str]:
        kwargs: dict[str, object] = {"max_tokens": options.max_tokens, **options.extra}
        kwargs["temperature"] = options.temperature
        if options.seed is not None:
            kwargs["seed"] = options.seed
        stop = list(options.stop) or None
        started = finished = False
        try:
            for chunk in self.llm.stream(to_langchain(messages), stop=stop, **kwargs):  # type: ignore[arg-type]
                finished = finished or bool(chunk.response_metadata.get("finish_reason"))
                text = chunk.content if isinstance(chunk.content, str) else ""
                if text:
                    started = True
                    yield text
            if self.needs_finish and not finished:
                cut = "stopped in the middle of the reply" if started else "ended its answer without a reply"
                raise ModelError(f"the model server {cut}", self.endpoint)
        except ModelError:
            raise
        except Exception as exc:  # any provider/transport failure becomes one domain error
            raise ModelError(describe_failure(exc, started, self.timeout), self.endpoint) from exc

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
        # the SDK would retry a timeout too, making the user wait twice the limit: refusals are retried above
        max_retries=0,
        streaming=True,
        http_client=deadline_client(timeout),
    )
    return LangChainModel(llm, f"openai:{model_name}", endpoint, timeout=timeout, needs_finish=True)
