"""Counterpart reply time against the raw local server, same prompt, same cache state, same tokens.

For each turn, the server's prompt cache is first put back to where a real conversation leaves it
(the previous turn's prompt and generated reply processed), then the counterpart engine answers the turn (mood, scene,
guard, LangChain client), then the cache is reset the same way and the raw server gets the very
request the engine sent (plain `openai` client, same sampling and seed). Both times and the ratio
are printed, with time to first token and the process's peak memory.

    .venv/bin/python bench/counterpart_latency.py [--model local] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Iterator, Sequence

import openai

from rehearsal.models import get_model
from rehearsal.models.base import ChatModel, Generation, Message
from rehearsal.scenarios import load_library
from rehearsal.session import Session, open_prompt
from rehearsal.settings import Settings
from rehearsal.store import Store

LINES = (
    "I can see you're in a real bind, and I know two people are off sick.",
    "I'm not able to do Saturday. I've covered twice this month and I need the weekend.",
    "What if I ask around on the group chat for you before I leave today?",
)


class Recorder:
    """Passes calls through to a model and keeps the first request of each turn."""

    def __init__(self, model: ChatModel):
        self.model, self.model_id, self.endpoint = model, model.model_id, model.endpoint
        self.requests: list[tuple[list[Message], Generation]] = []

    def stream(self, messages: Sequence[Message], options: Generation) -> Iterator[str]:
        self.requests.append((list(messages), options))
        return self.model.stream(messages, options)

    def close(self) -> None:
        self.model.close()


def timed(chunks: Iterator[str]) -> tuple[float, float, str]:
    """Consume a stream; return (time to first chunk, total time, text)."""
    start = time.perf_counter()
    first, text = None, ""
    for chunk in chunks:
        if first is None and chunk:
            first = time.perf_counter() - start
        text += chunk
    total = time.perf_counter() - start
    return (first if first is not None else total), total, text


def raw_stream(client: openai.OpenAI, messages: list[Message], options: Generation) -> Iterator[str]:
    """The same request straight to the server, no engine and no LangChain."""
    stream = client.chat.completions.create(
        model="local",
        messages=[{"role": m.role, "content": m.content} for m in messages],  # type: ignore[misc]
        stream=True,
        max_tokens=options.max_tokens,
        temperature=options.temperature,
        stop=list(options.stop)[:4],
        seed=options.seed,
        **options.extra,  # type: ignore[arg-type]
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content


def warm(model: ChatModel, messages: list[Message], reply: str | None) -> None:
    """Leave the server's cache as the previous turn left it: its prompt plus the reply it generated.

    The reply is sent as (the end of) the final assistant message, which llama.cpp's server
    continues, so the cached tokens are the ones generation itself would have left behind.
    """
    if reply is not None:
        if messages[-1].role == "assistant":
            messages = [*messages[:-1], Message("assistant", f"{messages[-1].content} {reply}")]
        else:
            messages = [*messages, Message("assistant", reply)]
    for _ in model.stream(messages, Generation(max_tokens=1, temperature=0.0)):
        pass


def run_once(
    settings: Settings, model: ChatModel, client: openai.OpenAI, prompt_id: str | None
) -> list[dict[str, float]]:
    scenario = load_library(settings.scenario_dirs).get("boss-extra-shifts")
    recorder = Recorder(model)
    session = Session.start(scenario, recorder, Store(settings.store_path), open_prompt(settings, prompt_id), seed=7)
    start = time.perf_counter()
    session.counterpart.prime()  # the app does this while the user reads the scenario
    prime_time = time.perf_counter() - start
    prev, prev_reply = recorder.requests[-1][0], None
    rows = []
    for turn, line in enumerate(LINES, start=1):
        warm(model, prev, prev_reply)
        before = len(recorder.requests)
        e_ttft, e_total, e_text = timed(session.say(line))
        messages, options = recorder.requests[before]
        attempts = len(recorder.requests) - before
        warm(model, prev, prev_reply)
        r_ttft, r_total, r_text = timed(raw_stream(client, messages, options))
        same = e_text.strip().rstrip("—") in r_text.strip() or attempts > 1
        rows.append(
            {
                "turn": turn,
                "e_ttft": e_ttft,
                "e_total": e_total,
                "r_ttft": r_ttft,
                "r_total": r_total,
                "attempts": attempts,
                "same": float(same),
                "prime": prime_time,
            }
        )
        prev, prev_reply = messages, e_text
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="local")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt", default=None, help="counterpart prompt id (default: the app's)")
    args = parser.parse_args()
    settings = Settings.from_env(model=args.model)
    start = time.perf_counter()
    model = get_model(settings)
    load_time = time.perf_counter() - start
    client = openai.OpenAI(base_url=model.endpoint, api_key="local", max_retries=0)
    runs = [run_once(settings, model, client, args.prompt) for _ in range(args.repeats)]
    prompt_flag = f" --prompt {args.prompt}" if args.prompt else ""
    print(f"$ python bench/counterpart_latency.py --model {args.model} --repeats {args.repeats}{prompt_flag}")
    print(
        f"model: {model.model_id}; prompt: {open_prompt(settings, args.prompt).id}; server start incl. weight check: {load_time:.2f} s"
    )
    print(
        f"prime (first prompt processed while the user reads), median: {statistics.median(r[0]['prime'] for r in runs):.2f} s"
    )
    print(
        f"{'turn':>4} {'engine s':>9} {'raw s':>7} {'ratio':>6} {'engine TTFT':>12} {'raw TTFT':>9} {'attempts':>8} {'same text':>9}"
    )
    ratios = []
    for index in range(len(LINES)):
        cells = [run[index] for run in runs]
        med = {k: statistics.median(c[k] for c in cells) for k in ("e_total", "r_total", "e_ttft", "r_ttft")}
        ratio = med["e_total"] / med["r_total"]
        ratios.append(ratio)
        attempts = max(c["attempts"] for c in cells)
        same = sum(c["same"] for c in cells)
        print(
            f"{index + 1:>4} {med['e_total']:9.2f} {med['r_total']:7.2f} {ratio:6.2f} {med['e_ttft']:12.2f} "
            f"{med['r_ttft']:9.2f} {attempts:8.0f} {same:6.0f}/{len(cells)}"
        )
    all_e = sum(statistics.median(run[i]["e_total"] for run in runs) for i in range(len(LINES)))
    all_r = sum(statistics.median(run[i]["r_total"] for run in runs) for i in range(len(LINES)))
    print(f"end-to-end ratio over all turns (engine / raw server): {all_e / all_r:.2f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
