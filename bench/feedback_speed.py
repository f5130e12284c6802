"""Feedback engine speed: tagging per line, a whole feedback turn (tag + retrieve + compose), the
crisis screen every line passes first, and the card index build.

The baseline measured in the same run is the shipped sentence encoder alone (one line, one call,
one thread, as the rest of the app runs it). The tagger reads the user's line with its own tuned
copy on two threads (the model server is idle while a line is tagged), so tagging can come in
under the baseline; the second row times that encoder alone.

    .venv/bin/python bench/feedback_speed.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from rag.embeddings import shared_encoder
from rag.retriever import ChromaRetriever
from rehearsal.exemplars import Example, all_exemplars, split
from rehearsal.feedback import compose_feedback
from rehearsal.safety import CrisisDetector
from rehearsal.scenarios import load_scenario
from rehearsal.settings import PROJECT_ROOT
from rehearsal.tagger import load_tagger


def median_ms(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    encoder = shared_encoder()
    tagger = load_tagger(encoder)
    _, test = split(all_exemplars())
    lines = test[:200]
    scenario = load_scenario(PROJECT_ROOT / "scenarios" / "boss-extra-shifts.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        retriever = ChromaRetriever(Path(tmp) / "index")
        build = time.perf_counter() - start
        chunks = retriever.collection.count()
        sample = lines[0]
        encoder.encode([sample.text])  # warm up
        base = median_ms(lambda: encoder.encode([sample.text]), 50)
        line_encoder = tagger.line_encoder or encoder
        line_encoder.encode([sample.text])  # warm up
        tuned = median_ms(lambda: line_encoder.encode([sample.text]), 50)

        def cold(e) -> None:  # type: ignore[no-untyped-def]
            tagger.forget()
            tagger.tag(e.text, e.context)

        one = statistics.median(median_ms(lambda e=e: cold(e), 3) for e in lines[:60])
        # in a session the counterpart's line is encoded as soon as it is spoken (Coach.heard), so
        # tagging the user's answer only encodes the answer
        timings = []
        for e in lines[:60]:
            tagger.remember(e.context)
            timings.append(median_ms(lambda e=e: tagger.tag(e.text, e.context), 3))
        session_one = statistics.median(timings)
        tagger.forget()
        start = time.perf_counter()
        for i in range(0, len(lines), 64):  # as `rehearse tag` reads them
            batch = lines[i : i + 64]
            tagger.tag_batch([e.text for e in batch], [e.context for e in batch])
        batched = (time.perf_counter() - start) * 1000 / len(lines)

        def turn(e: Example, heard: bool = False) -> float:
            """Milliseconds for one feedback turn on `e` (set-up not timed)."""
            # every repeat starts cold: a user's line is new, so no query embedding may be reused
            tagger.forget()
            retriever.forget_queries()
            if heard:  # as in a session after its first turn: the other person's line and the
                # scenario's goal (the query for a skill still to try) were embedded before
                tagger.remember(e.context)
                retriever.search(scenario.user_goal, k=1)
            start = time.perf_counter()
            compose_feedback(tagger.tag(e.text, e.context), e.text, scenario, retriever, set())
            return (time.perf_counter() - start) * 1000

        screen = CrisisDetector()
        screen.check_fast(sample.text)  # warm up: loads the screen's model and encoder
        screened = statistics.median(median_ms(lambda e=e: screen.check_fast(e.text), 3) for e in lines[:60])
        full = statistics.median(statistics.median(turn(e) for _ in range(3)) for e in lines[:60])
        in_session = statistics.median(statistics.median(turn(e, heard=True) for _ in range(3)) for e in lines[:60])
    print("$ python bench/feedback_speed.py")
    print(f"{'what':44} {'median ms':>10} {'x baseline':>10}")
    print(f"{'baseline: embed one line (shipped encoder)':44} {base:10.2f} {1.0:10.2f}")
    threads = line_encoder.session.get_session_options().intra_op_num_threads
    label = f"embed one line, tagger's encoder ({threads} threads)"
    print(f"{label:44} {tuned:10.2f} {tuned / base:10.2f}")
    print(f"{'tag one line, context not seen before':44} {one:10.2f} {one / base:10.2f}")
    print(f"{'tag one line, context encoded when spoken':44} {session_one:10.2f} {session_one / base:10.2f}")
    print(f"{'tag, per line, batches of 64, new contexts':44} {batched:10.2f} {batched / base:10.2f}")
    print(f"{'crisis screen, one line (offline layers)':44} {screened:10.2f} {screened / base:10.2f}")
    print(f"{'feedback turn, context not seen before':44} {full:10.2f} {full / base:10.2f}")
    print(f"{'feedback turn in a session (see turn())':44} {in_session:10.2f} {in_session / base:10.2f}")
    print(f"card index build: {chunks} chunks in {build:.2f} s")


if __name__ == "__main__":
    main()
