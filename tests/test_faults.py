"""Model faults, injected: a server that never answers or stalls, garbage over HTTP, junk from a fake.

Every fault ends either in one `ModelError` naming the endpoint — the user's line already saved,
the failure and the part of the reply shown recorded, the line ready to send again — or in the
counterpart's guard and fallback. Nothing unprintable reaches the screen. A timeout costs the
user the limit once (it is not tried again); a refused connection is tried once more. Servers are
real sockets on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from rehearsal.errors import ModelError
from rehearsal.models import ChatModel, get_model
from rehearsal.models.base import Generation, Message
from rehearsal.models.fakes import QueuedModel
from rehearsal.models.openai_compat import REFUSED_PAUSE
from rehearsal.prompts import load_prompt
from rehearsal.scenario import Scenario
from rehearsal.session import ModelFailure, Session
from rehearsal.settings import Settings
from rehearsal.store import Store
from tests.conftest import ROOT
from tests.fakes import ChunkedModel

PROMPT = load_prompt(ROOT / "prompts", "counterpart.screenplay.v1")
TIMEOUT = 0.4  # seconds, through REHEARSAL_TIMEOUT
SLACK = 3.0  # seconds a shared CPU may add to any bound
LINE = "I can't do Saturday this time."
REPLY = "Fine, Jordan. Then I will have to ring round for someone else."
BEGUN = "Look, Jordan, I really need someone on Saturday, "


# --- a model server on 127.0.0.1 that misbehaves on demand ---------------------------------------

Behaviour = Callable[["FaultyServer", socket.socket], None]


class FaultyServer:
    """Answers every request with `behaviour` (swap it to mend the server); stalls end at `close`."""

    def __init__(self, behaviour: Behaviour, port: int = 0):
        self.behaviour = behaviour
        self.requests = 0  # requests read in full
        self.released = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", port))
        self.sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with self.sock:  # closed here, once `close` has asked: never under a waiting accept()
            while not self.released.is_set():
                try:
                    conn, _ = self.sock.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        with conn:
            try:
                _read_request(conn)
                self.requests += 1
                self.behaviour(self, conn)
            except OSError:
                pass  # the client gave up first, as it should

    def close(self) -> None:
        """Stop accepting and let every stalled answer end."""
        self.released.set()


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        part = conn.recv(65536)
        if not part:
            raise ConnectionError("the client left")
        data += part
    head, body = data.split(b"\r\n\r\n", 1)
    sizes = [line.split(b":")[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    while len(body) < int(sizes[0] if sizes else 0):
        body += conn.recv(65536)


def event(text: str = "", finish: str | None = None) -> bytes:
    """One server-sent event of an OpenAI chat-completion stream."""
    choice = {"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}
    data = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [choice]}
    return f"data: {json.dumps(data)}\n\n".encode()


DONE = b"data: [DONE]\n\n"
STREAM_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


def reply_events(*chunks: str) -> bytes:
    """A whole, well-formed streamed reply."""
    return b"".join(event(chunk) for chunk in chunks) + event(finish="stop") + DONE


def answer(body: bytes, status: str = "200 OK", content_type: str = "text/event-stream") -> Behaviour:
    """Send this response and close."""
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close"

    def behaviour(server: FaultyServer, conn: socket.socket) -> None:
        conn.sendall(head.encode() + b"\r\n\r\n" + body)

    return behaviour


def never_answer(server: FaultyServer, conn: socket.socket) -> None:
    """Accept the connection, read the request, say nothing."""
    server.released.wait(30)


def stall_after(*events: bytes) -> Behaviour:
    """Send the headers and these events, then nothing more."""

    def behaviour(server: FaultyServer, conn: socket.socket) -> None:
        conn.sendall(STREAM_HEAD + b"".join(events))
        server.released.wait(30)

    return behaviour


def keep_alive_only(server: FaultyServer, conn: socket.socket) -> None:
    """Send the headers, then keep-alive comments (for ten seconds, so a regression fails, not hangs)."""
    conn.sendall(STREAM_HEAD)
    for _ in range(200):
        if server.released.wait(0.05):
            return
        conn.sendall(b": keep-alive\n\n")


def break_off(*events: bytes) -> Behaviour:
    """Send these events in a chunked body, then drop the connection halfway through the next chunk."""

    def behaviour(server: FaultyServer, conn: socket.socket) -> None:
        body = b"".join(events)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        conn.sendall(head + f"{len(body):x}\r\n".encode() + body + b"\r\nff\r\ndata: {")

    return behaviour


@pytest.fixture
def serve() -> Iterator[Callable[..., FaultyServer]]:
    """Start faulty servers (on a given port if asked); every one is closed after the test."""
    servers: list[FaultyServer] = []

    def start(behaviour: Behaviour, port: int = 0) -> FaultyServer:
        servers.append(FaultyServer(behaviour, port))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# --- the session on top of a faulty model -------------------------------------------------------


def remote(monkeypatch: pytest.MonkeyPatch, url: str, timeout: float = TIMEOUT) -> ChatModel:
    """The OpenAI-compatible model at `url`, configured the way a user would."""
    monkeypatch.setenv("REHEARSAL_MODEL", "openai:some-model")
    monkeypatch.setenv("REHEARSAL_BASE_URL", url)
    monkeypatch.setenv("REHEARSAL_TIMEOUT", str(timeout))
    return get_model(Settings.from_env())


def start_session(scenario: Scenario, model: ChatModel, tmp_path: Path) -> Session:
    return Session.start(scenario, model, Store(tmp_path / "sessions.sqlite3"), PROMPT)


def fail(session: Session) -> tuple[ModelError, float]:
    """Say LINE, expecting the model to fail; the error and the seconds it took."""
    began = time.monotonic()
    with pytest.raises(ModelError) as info:
        for _ in session.say(LINE):
            pass
    return info.value, time.monotonic() - began


def saved_failure(session: Session, error: ModelError) -> dict[str, Any]:
    """Check the line was saved and the failure recorded with it; the recorded detail."""
    turns = session.store.turns(session.id)
    assert [(t["speaker"], t["text"]) for t in turns][-1] == ("user", LINE), "the line is saved before the model runs"
    errors = [e for e in session.store.events(session.id) if e["kind"] == "model_error"]
    assert errors and errors[-1]["turn_idx"] == turns[-1]["idx"]
    detail: dict[str, Any] = errors[-1]["detail"]
    assert detail == {"endpoint": error.endpoint, "error": str(error), "partial_reply": error.partial_reply}
    assert session.unanswered == LINE and session.can_rewind
    return detail


def named(error: ModelError, url: str, *says: str) -> None:
    assert error.endpoint == url and f"(endpoint: {url})" in str(error), str(error)
    assert all(part in str(error) for part in says), str(error)
    assert str(error).isprintable()


# --- 1. timeouts --------------------------------------------------------------------------------


def test_a_server_that_never_answers_times_out_within_the_limit(
    scenario: Scenario, serve: Callable[[Behaviour], FaultyServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = serve(never_answer)
    session = start_session(scenario, remote(monkeypatch, server.url), tmp_path)
    error, took = fail(session)
    assert server.requests == 1, "a timeout is not tried again: that would double the wait"
    assert took < TIMEOUT + SLACK
    named(error, server.url, f"timed out: no answer within {TIMEOUT:g} s", "REHEARSAL_TIMEOUT")
    assert saved_failure(session, error)["partial_reply"] == ""


def test_the_wait_for_a_server_that_never_answers_is_the_limit_not_a_multiple(
    serve: Callable[[Behaviour], FaultyServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 2.0  # long enough that a second try would stand out from a busy CPU's delays
    server = serve(never_answer)
    model = remote(monkeypatch, server.url, timeout=limit)
    began = time.monotonic()
    with pytest.raises(ModelError, match=f"within {limit:g} s"):
        list(model.stream([Message("user", LINE)], Generation(max_tokens=5)))
    took = time.monotonic() - began
    assert limit - 0.1 < took < 2 * limit, took
    assert server.requests == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_tried_once_more_after_a_short_pause(
    serve: Callable[..., FaultyServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    model = remote(monkeypatch, f"http://127.0.0.1:{port}/v1")
    # the server comes up during the pause, as a local server that is restarting would
    threading.Timer(REFUSED_PAUSE / 4, serve, args=(answer(reply_events(REPLY)), port)).start()
    assert "".join(model.stream([Message("user", LINE)], Generation(max_tokens=5))) == REPLY


def test_a_server_that_stays_refused_fails_after_one_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    model = remote(monkeypatch, url)
    began = time.monotonic()
    with pytest.raises(ModelError) as info:
        list(model.stream([Message("user", LINE)], Generation(max_tokens=5)))
    assert time.monotonic() - began < REFUSED_PAUSE + SLACK
    named(info.value, url, "cannot connect to the model server")


@pytest.mark.parametrize(
    ("stall", "says", "shown"),
    [
        (stall_after(), "timed out: no answer", False),
        (stall_after(event(BEGUN), event("and you ")), "timed out in the middle of the reply", True),
        (keep_alive_only, "timed out: no answer", False),
    ],
    ids=["headers-then-nothing", "first-words-then-nothing", "keep-alive-only"],
)
def test_a_stalled_reply_times_out_keeps_what_was_shown_and_can_be_sent_again(
    scenario: Scenario,
    serve: Callable[[Behaviour], FaultyServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    stall: Behaviour,
    says: str,
    shown: bool,
) -> None:
    server = serve(stall)
    session = start_session(scenario, remote(monkeypatch, server.url), tmp_path)
    error, took = fail(session)
    assert took < TIMEOUT + SLACK, "ends within the limit"
    assert server.requests == 1, "not tried again"
    named(error, server.url, says, f"within {TIMEOUT:g} s")
    partial = saved_failure(session, error)["partial_reply"]
    assert bool(partial) == shown and BEGUN.startswith(partial.rstrip("—")), partial
    assert len(session.counterpart.lines) == 1, "the scene is back where it was"

    server.behaviour = answer(reply_events("Fine, Jordan. ", "Then I will have to ring round for someone else."))
    assert "".join(session.say(LINE)) == REPLY  # the model works again: the same line is sent again
    said = [(t["speaker"], t["text"]) for t in session.store.turns(session.id)]
    assert said[1:] == [("user", LINE), ("counterpart", REPLY)], "the line is not saved twice"
    assert session.unanswered is None


def test_after_a_timeout_the_unanswered_line_can_be_taken_back_alone(
    scenario: Scenario, serve: Callable[[Behaviour], FaultyServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = serve(answer(reply_events(REPLY)))
    session = start_session(scenario, remote(monkeypatch, server.url), tmp_path)
    assert "".join(session.say("Hello, Dana.")) == REPLY
    server.behaviour = stall_after()
    fail(session)
    assert session.rewind() == LINE
    assert [speaker for speaker, _ in session.transcript] == ["counterpart", "user", "counterpart"]
    assert session.transcript[-1] == ("counterpart", REPLY), "the answered pair is untouched"
    assert [t["meta"].get("rewound", False) for t in session.store.turns(session.id)] == [False] * 3 + [True]


def test_a_line_left_unanswered_does_not_shift_later_take_backs(
    scenario: Scenario, serve: Callable[[Behaviour], FaultyServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = serve(answer(reply_events(REPLY)))
    session = start_session(scenario, remote(monkeypatch, server.url), tmp_path)
    "".join(session.say("Hello, Dana."))
    server.behaviour = stall_after()
    fail(session)
    server.behaviour = answer(reply_events("Right. Let me think about who else I can ask."))
    "".join(session.say("Let me put it another way."))  # the user moved on instead of sending it again
    assert session.unanswered is None
    assert session.rewind() == "Let me put it another way."
    assert session.rewind() == "Hello, Dana."
    assert session.transcript == [("counterpart", scenario.opening_line), ("user", LINE)], "the line left stays"
    assert not session.can_rewind


def test_the_part_shown_of_a_reply_never_finished_stays_with_its_line_until_it_is_answered(
    scenario: Scenario, serve: Callable[[Behaviour], FaultyServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = serve(stall_after(event(BEGUN), event("and you ")))
    session = start_session(scenario, remote(monkeypatch, server.url), tmp_path)
    error, _took = fail(session)
    assert session.failures() == {1: ModelFailure(str(error), server.url, error.partial_reply)}
    assert error.partial_reply, "part of the reply was shown"

    server.behaviour = answer(reply_events(REPLY))
    "".join(session.say("Let me put it another way."))  # the user moved on: the first line keeps its cut-off reply
    assert list(session.failures()) == [1]
    session.rewind()
    assert list(session.failures()) == [1], "the line left is last again, still without a reply"

    model = session.counterpart.model
    answered, taken_back = start_session(scenario, model, tmp_path), start_session(scenario, model, tmp_path)
    server.behaviour = stall_after(event(BEGUN))
    fail(answered)
    fail(taken_back)
    server.behaviour = answer(reply_events(REPLY))
    "".join(answered.say(LINE))  # sent again and answered: nothing left to show as cut off
    taken_back.rewind()  # gone with its line
    assert answered.failures() == {} and taken_back.failures() == {}


# --- 2. garbage -----------------------------------------------------------------------------------

NOT_A_REPLY = "not a chat reply"
JSON_ERROR = json.dumps({"error": {"message": "model overloaded", "type": "server_error"}}).encode()


@pytest.mark.parametrize(
    ("garbage", "says", "shown"),
    [
        (answer(b"<html><body>It works!</body></html>", content_type="text/html"), NOT_A_REPLY, False),
        (answer(b"data: {not json\n\n"), NOT_A_REPLY, False),
        (answer(b"data: \xff\xfe\x00\x00\n\n"), NOT_A_REPLY, False),
        (answer(b"data: [1, 2]\n\n" + DONE), NOT_A_REPLY, False),
        (answer(b""), NOT_A_REPLY, False),
        (answer(JSON_ERROR, content_type="application/json"), NOT_A_REPLY, False),
        (answer(b"data: " + JSON_ERROR + b"\n\n"), "reported an error instead of a reply", False),
        (answer(JSON_ERROR, "500 Internal Server Error", "application/json"), "answered with HTTP 500", False),
        (answer(event() + DONE), "ended its answer without a reply", False),
        (answer(event(BEGUN) + event("and you ")), "stopped in the middle of the reply", True),
        (break_off(event(BEGUN), event("and you ")), "broke off in the middle of the reply", True),
    ],
    ids=[
        "html-page",
        "sse-not-json",
        "sse-not-utf8",
        "sse-wrong-shape",
        "empty-body",
        "json-error-body",
        "sse-error-event",
        "http-500",
        "no-text-no-end",
        "cut-off-cleanly",
        "connection-drops",
    ],
)
def test_garbage_from_the_server_is_one_model_error_naming_it(
    scenario: Scenario,
    serve: Callable[[Behaviour], FaultyServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    garbage: Behaviour,
    says: str,
    shown: bool,
) -> None:
    server = serve(garbage)
    session = start_session(scenario, remote(monkeypatch, server.url), tmp_path)
    error, _took = fail(session)
    named(error, server.url, says)
    assert "overloaded" not in str(error), "what the server said is not passed on as ours"
    assert bool(saved_failure(session, error)["partial_reply"]) == shown


def test_escapes_and_control_characters_in_a_streamed_reply_never_reach_the_screen(
    scenario: Scenario, serve: Callable[[Behaviour], FaultyServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chunks = (
        "\x1b[1mFine,\x1b[0m Jordan.\x00\x00 Then I will",
        " have to ring\x07 round\t for\x1b",
        "[0m someone else.",
    )
    server = serve(answer(reply_events(*chunks)))
    session = start_session(scenario, remote(monkeypatch, server.url), tmp_path)
    assert "".join(session.say(LINE)) == REPLY
    assert session.store.turns(session.id)[-1]["text"] == REPLY


FALLBACK_ONLY = {
    "empty": [""],
    "nul-bytes": ["\x00\x00"],
    "control-characters": ["\x07\x08\x1b\x7f\x0c"],
    "ansi-escapes-only": ["\x1b[31m", "\x1b[0m\x1b[2J"],
    "braces": ["{{{"],
    "own-label-only": ["Dana:"],
    "user-label-only": ["Jordan:"],
    "zero-width-and-bom": ["\u200b\ufeff"],
}


@pytest.mark.parametrize("chunks", FALLBACK_ONLY.values(), ids=FALLBACK_ONLY.keys())
def test_junk_from_a_model_becomes_a_scenario_line(scenario: Scenario, tmp_path: Path, chunks: list[str]) -> None:
    model = ChunkedModel([chunks])
    session = start_session(scenario, model, tmp_path)
    shown = "".join(session.say(LINE))
    assert session.last_reply is not None and session.last_reply.guard.fallback
    fallbacks = scenario.fallback_lines
    assert shown in (*fallbacks.calm, *fallbacks.guarded, *fallbacks.heated)
    assert model.calls == 3, "regenerated twice before falling back"
    assert session.store.turns(session.id)[-1]["text"] == shown


def test_junk_inside_speech_is_removed_even_when_split_across_chunks(scenario: Scenario, tmp_path: Path) -> None:
    chunks = [
        "\x1b[1mFine,",
        "\x1b[0m Jor\u200bdan.\x00\x00 Then I will \x1b",
        "[",
        "3",
        "1mhave to ring\x07 round for",
        " someone else.\ufeff\x1b",
    ]
    session = start_session(scenario, ChunkedModel([chunks]), tmp_path)
    shown = "".join(session.say(LINE))
    assert shown == REPLY and shown.isprintable()
    assert session.last_reply is not None and not session.last_reply.guard.fallback


def test_a_queued_reply_of_nothing_but_a_label_falls_back(scenario: Scenario, tmp_path: Path) -> None:
    session = start_session(scenario, QueuedModel(["DANA:   "]), tmp_path)
    shown = "".join(session.say(LINE))
    assert shown and shown.isprintable() and "DANA" not in shown
    assert session.last_reply is not None and session.last_reply.guard.fallback


# --- 3. the rehearse page -------------------------------------------------------------------------


def texts(app: AppTest) -> list[str]:
    return [t.value for t in app.text]


def start(app: AppTest, scenario: str = "boss-extra-shifts") -> None:
    app.run()
    app.switch_page("ui/choose.py").run()
    app.button(key=f"pick-{scenario}").click().run()
    app.switch_page("ui/rehearse.py").run()  # AppTest stays on a page it was switched to: follow the app
    [begin] = [b for b in app.button if b.label.startswith("Start the conversation")]
    begin.click().run()
    assert not app.exception


CUT_OFF = "(cut off)"
AGAIN = "“Send it again”"
TAKE_BACK = "“Take back my last line”"


def cut_off_marks(app: AppTest) -> int:
    return [c.value for c in app.caption].count(CUT_OFF)


def send_again(app: AppTest) -> list[Any]:
    return [b for b in app.button if b.label == "Send it again"]


@pytest.mark.parametrize(
    ("fault", "says", "partial", "typed"),
    [
        (break_off(event(BEGUN), event("and you ")), "broke off in the middle of the reply", True, False),
        (never_answer, f"timed out: no answer within {TIMEOUT:g} s", False, False),
        (stall_after(event(BEGUN)), "timed out in the middle of the reply", True, True),
    ],
    ids=["fails-mid-stream", "times-out", "stalls-then-typed-again"],
)
def test_the_page_names_the_failure_keeps_what_was_shown_and_sends_the_line_again(
    app: AppTest,
    serve: Callable[[Behaviour], FaultyServer],
    monkeypatch: pytest.MonkeyPatch,
    fault: Behaviour,
    says: str,
    partial: bool,
    typed: bool,
) -> None:
    server = serve(fault)
    remote(monkeypatch, server.url)  # the app reads the same settings from the environment
    start(app)
    app.chat_input[0].set_value(LINE).run()
    assert not app.exception
    store = Store(Settings.from_env().store_path)
    session_id = store.sessions()[0].id
    [recorded] = [e["detail"]["partial_reply"] for e in store.events(session_id) if e["kind"] == "model_error"]
    assert bool(recorded) == partial

    for _ in ("as the failure is shown", "after a rerun, from the record"):
        [error] = [e.value for e in app.error]
        assert server.url in error and says in error, error
        if partial:
            assert "The reply was cut off" in error and "marked as partial" in error and "No reply came" not in error
        else:
            assert "No reply came." in error and "cut off" not in error, error
        assert "Your line is saved" in error and AGAIN in error and TAKE_BACK in error, error
        shown = texts(app)
        assert shown.count(LINE) == 1, "the line stays on the page"
        if partial:
            assert shown[shown.index(LINE) + 1] == recorded and cut_off_marks(app) == 1, shown
        else:
            assert cut_off_marks(app) == 0
        assert len(send_again(app)) == 1
        app.run()  # a rerun the failure did not cause (any click does one)
        assert not app.exception

    server.behaviour = answer(reply_events(REPLY))  # the model works again
    if typed:
        app.chat_input[0].set_value(LINE).run()
    else:
        send_again(app)[0].click().run()
    assert not app.exception and not app.error and not send_again(app)
    shown = texts(app)
    assert shown.count(LINE) == 1 and shown[shown.index(LINE) + 1] == REPLY, shown
    assert cut_off_marks(app) == 0 and (not recorded or recorded not in shown)
    assert [(t["speaker"], t["text"]) for t in store.turns(session_id)][1:] == [("user", LINE), ("counterpart", REPLY)]
    assert [e["kind"] for e in store.events(session_id)] == ["model_error"]


def test_a_line_left_without_a_reply_can_be_taken_back_on_the_page(
    app: AppTest, serve: Callable[[Behaviour], FaultyServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(break_off(event(BEGUN), event("and you ")))
    remote(monkeypatch, server.url)
    start(app)
    app.chat_input[0].set_value(LINE).run()
    assert cut_off_marks(app) == 1
    [take_back] = [b for b in app.button if b.label == "Take back my last line"]
    take_back.click().run()
    assert not app.exception and not app.error and not send_again(app)
    assert LINE not in texts(app) and cut_off_marks(app) == 0
    [info] = [i.value for i in app.info]
    assert info == f"Taken back: “{LINE}”. It stays in the record; say it another way."
    store = Store(Settings.from_env().store_path)
    [line] = [t for t in store.turns(store.sessions()[0].id) if t["speaker"] == "user"]
    assert line["text"] == LINE and line["meta"]["rewound"]
