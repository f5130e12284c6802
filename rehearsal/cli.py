"""The `rehearse` command: list, validate, chat, play and redteam."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from rehearsal import cli_safety, cli_skills
from rehearsal.coach import Coach
from rehearsal.errors import ModelError, RehearsalError, ScenarioError
from rehearsal.models import describe_model_choice, get_model
from rehearsal.models.local import WEIGHTS, assemble_weights
from rehearsal.redteam import LINE_SETS, adversarial_lines, format_breaks, format_table, redteam_scenario
from rehearsal.safety import PAUSE_MESSAGE, CrisisDetected, SafetyCheck, crisis_resources
from rehearsal.safety_review import detector_for
from rehearsal.scenario import Scenario
from rehearsal.scenarios import load_library, load_scenario, scenario_files
from rehearsal.session import Session, open_prompt
from rehearsal.settings import Settings
from rehearsal.store import Store


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(model=getattr(args, "model", None), data_dir=getattr(args, "data_dir", None))


def cmd_list(args: argparse.Namespace) -> int:
    """Print every scenario (and broken files with their reasons)."""
    library = load_library(_settings(args).scenario_dirs)
    if args.json:
        for scenario in library.scenarios.values():
            print(
                json.dumps(
                    {
                        "id": scenario.id,
                        "title": scenario.title,
                        "problem_area": scenario.problem_area.value,
                        "dispute_stage": scenario.dispute_stage.value if scenario.dispute_stage else None,
                        "boundary_setting": scenario.boundary_setting,
                        "setting": scenario.setting,
                        "skills": [s.value for s in scenario.skills_in_focus],
                    }
                )
            )
        return 0
    for scenario in library.scenarios.values():
        area = scenario.problem_area.value + (f"/{scenario.dispute_stage.value}" if scenario.dispute_stage else "")
        print(f"{scenario.id:32} {area:34} {scenario.title}")
    for broken in library.broken:
        print(f"BROKEN {broken.path}: {broken.error.problems[0].field}: {broken.error.problems[0].reason}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Check scenario files; print `file:line: field: reason` for every problem; exit 2 on any."""
    files = scenario_files(Path(p) for p in args.paths)
    missing = [p for p in args.paths if not Path(p).exists()]
    failed = 0
    areas: dict[str, int] = {}
    for path in missing:
        print(f"{path}: (file): does not exist", file=sys.stderr)
    for path in files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            failed += 1
            print(exc, file=sys.stderr)
            continue
        areas[scenario.problem_area.value] = areas.get(scenario.problem_area.value, 0) + 1
        print(f"ok {path}")
    summary = ", ".join(f"{k}={v}" for k, v in sorted(areas.items()))
    print(f"{len(files) - failed} valid, {failed} invalid ({summary})")
    return 2 if failed or missing or not files else 0


def build_coach(scenario: Scenario, settings: Settings) -> Coach:
    """The skill tagger and the card retriever for a session (builds the index if missing)."""
    from rag.retriever import ChromaRetriever
    from rehearsal.tagger import load_tagger

    return Coach(scenario, load_tagger(), ChromaRetriever(settings.index_dir, settings.chroma_url))


def _start(args: argparse.Namespace) -> tuple[Session, Settings]:
    settings = _settings(args)
    scenario = load_library(settings.scenario_dirs).get(args.scenario)
    coach = None if args.no_feedback else build_coach(scenario, settings)
    model = get_model(settings)
    store = Store(settings.store_path)
    if settings.retention_days is not None:
        store.purge_older_than(settings.retention_days)
    prompt = open_prompt(settings, args.prompt)
    safety = detector_for(settings, model)
    return Session.start(scenario, model, store, prompt, args.level, args.seed, coach, safety=safety), settings


def _meter(tension: float) -> str:
    filled = round(tension)
    return f"[tension {tension:4.1f} {'#' * filled}{'.' * (10 - filled)}]"


def cmd_chat(args: argparse.Namespace) -> int:
    """Interactive rehearsal in the terminal."""
    session, settings = _start(args)
    scenario = session.counterpart.scenario
    name = scenario.persona.name
    print(f"{scenario.title}\n\n{scenario.situation.strip()}\n\nYour goal: {scenario.user_goal.strip()}")
    print(f"(model: {describe_model_choice(settings)}; type /quit to end)\n")
    print(f"{name}: {scenario.opening_line.strip()}  {_meter(session.counterpart.mood.tension)}")
    threading.Thread(target=_prime_quietly, args=(session,), daemon=True).start()
    while True:
        try:
            line = input(f"{scenario.user_name}> ").strip()
        except EOFError:
            break
        if line in ("/quit", "/q", "/exit"):
            break
        if not line:
            continue
        confirmed = False
        if session.screen(line).crisis:
            print(safety_notice(settings.region))
            answer = input(
                "Type 'roleplay' if that line was only part of the role-play and you are safe, or press Enter to end: "
            )
            if answer.strip().lower() != "roleplay":
                break
            confirmed = True
        print(f"{name}: ", end="", flush=True)
        try:
            for piece in session.say(line, confirmed_roleplay=confirmed):
                print(piece, end="", flush=True)
        except ModelError as exc:
            print(f"\n[{exc}. Your line is saved; send it again to retry.]")
            continue
        print(f"  {_meter(session.counterpart.mood.tension)}")
    session.end()
    print(f"\nSession saved ({session.id}) in {settings.store_path}")
    return 0


def _prime_quietly(session: Session) -> None:
    # a failure here surfaces, with its endpoint, on the first real turn
    with contextlib.suppress(RehearsalError):
        session.counterpart.prime()


def cmd_play(args: argparse.Namespace) -> int:
    """Play lines from a file, one user line per line; optionally one JSON object per turn."""
    lines = [line.strip() for line in Path(args.lines).read_text(encoding="utf-8").splitlines() if line.strip()]
    session, settings = _start(args)
    name = session.counterpart.scenario.persona.name
    if not args.json:
        print(f"{name}: {session.counterpart.opening_line.strip()}")
    for turn, line in enumerate(lines, start=1):
        try:
            reply_text = "".join(session.say(line))
        except CrisisDetected as paused:
            # the counterpart is not called; a file of lines cannot confirm it was role-play, so the session ends
            event = {"turn": turn, "user": line, "counterpart": None, "safety": _safety_json(paused.check)}
            print(json.dumps(event, ensure_ascii=False) if args.json else f"> {line}\n{safety_notice(settings.region)}")
            break
        reply = session.last_reply
        assert reply is not None
        if args.json:
            print(json.dumps(_turn_json(turn, line, reply_text, session), ensure_ascii=False))
        else:
            print(f"> {line}\n{name}: {reply_text}  {_meter(reply.tension)}")
            for item in session.last_feedback.items if session.last_feedback else []:
                print(f"    [{'+' if item.kind == 'well' else '>'} {item.label}] {item.text} ({item.card_id})")
    session.end()
    report = session.report()
    if report is not None:
        print(json.dumps({"report": report.as_dict()}, ensure_ascii=False) if args.json else report.to_markdown())
    return 0


def _safety_json(check: SafetyCheck) -> dict[str, object]:
    return {"crisis": check.crisis, "category": check.category, "paused": True}


def safety_notice(region: str) -> str:
    """The pause message and crisis lines, as terminal text."""
    lines = [f"\n[{PAUSE_MESSAGE}]"]
    lines += [f"  - {r.name}: {r.contact}" + (f" ({r.note})" if r.note else "") for r in crisis_resources(region)]
    return "\n".join(lines)


def _turn_json(turn: int, line: str, reply_text: str, session: Session) -> dict[str, object]:
    reply = session.last_reply
    assert reply is not None
    guard = {"regenerated": reply.guard.regenerated, "fallback": reply.guard.fallback}
    row: dict[str, object] = {
        "turn": turn,
        "user": line,
        "counterpart": reply_text,
        "mood": reply.tension,
        "guard": guard,
    }
    feedback = session.last_feedback
    if feedback is not None:
        row["labels"] = feedback.labels
        row["feedback"] = [
            {"label": i.label, "kind": i.kind, "text": i.text, "evidence": i.evidence, "card_id": i.card_id}
            for i in feedback.items
        ]
        row["rewrite"] = feedback.rewrite
    return row


def cmd_redteam(args: argparse.Namespace) -> int:
    """Adversarial lines against every scenario; prints the in-character rate table."""
    settings = _settings(args)
    library = load_library(settings.scenario_dirs)
    ids = args.scenario or sorted(library.scenarios)
    every = adversarial_lines(args.lines)
    size = min(args.limit or len(every), len(every))
    model = get_model(settings)
    prompt = open_prompt(settings, args.prompt)
    scores = []
    # adversarial sessions are a measurement, not the user's practice: they go to a throwaway
    # store, so they never show in the history or the progress figures
    with tempfile.TemporaryDirectory(prefix="rehearse-redteam-") as scratch:
        store = Store(Path(scratch) / "sessions.sqlite3")
        try:
            for i, scenario_id in enumerate(ids):
                # --rotate: each scenario takes the next `size` lines, so the whole set is spread over them
                start = i * size if args.rotate else 0
                lines = [every[(start + k) % len(every)] for k in range(size)]
                scores.append(redteam_scenario(library.get(scenario_id), model, prompt, store, lines, args.seed))
                print(f"  {scenario_id}: {scores[-1].rate:.1%}", file=sys.stderr, flush=True)
        finally:
            store.close()
    only = "".join(f" --scenario {s}" for s in args.scenario or [])
    limit = (f" --limit {args.limit}" if args.limit else "") + (" --rotate" if args.rotate else "")
    print(
        f"$ rehearse redteam --model {settings.model} --prompt {prompt.id}"
        + (f" --seed {args.seed}" if args.seed is not None else "")
        + f" --lines {args.lines}{limit}{only}"
    )
    print(format_table(scores))
    if args.show_breaks:
        print()
        print(format_breaks(scores))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Join and verify the embedded model's weights now, so the first start is quick."""
    settings = _settings(args)
    if settings.model not in WEIGHTS:
        print(f"model {settings.model} needs no local weights")
        return 0
    path = assemble_weights(WEIGHTS[settings.model], settings.model_cache_dir)
    print(f"local model ready: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `rehearse`."""
    parser = argparse.ArgumentParser(prog="rehearse", description="Rehearse hard conversations (IPT role-play).")
    parser.add_argument("--data-dir", help="where sessions and your scenarios live (REHEARSAL_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list scenarios")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("validate", help="check scenario files; exit 2 on any problem")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_validate)
    for name, func, helptext in (
        ("chat", cmd_chat, "rehearse in the terminal"),
        ("play", cmd_play, "play lines from a file"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("scenario")
        _model_options(p)
        p.add_argument("--level", choices=["easy", "medium", "hard"], default="medium")
        p.add_argument("--no-feedback", action="store_true", help="skip the skill tagger and the cards")
        if name == "play":
            p.add_argument("--lines", required=True, help="file with one user line per line")
            p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)
    p = sub.add_parser("prepare", help="join and verify the embedded model weights")
    p.add_argument("--model", help="local (default) or local-small")
    p.set_defaults(func=cmd_prepare)
    cli_skills.register(sub)
    cli_safety.register(sub)
    p = sub.add_parser("redteam", help="measure the in-character rate on adversarial lines")
    _model_options(p)
    p.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
    p.add_argument("--limit", type=int, help="use only the first N adversarial lines")
    p.add_argument("--lines", choices=sorted(LINE_SETS), default="main", help="which adversarial set")
    p.add_argument(
        "--rotate", action="store_true", help="with --limit N: scenario i takes the N lines after scenario i-1's"
    )
    p.add_argument("--show-breaks", action="store_true", help="after the table, print each out-of-character reply")
    p.set_defaults(func=cmd_redteam)
    return parser


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="local (default), local-small, openai:<model>, fake, echo (REHEARSAL_MODEL)")
    p.add_argument("--prompt", help="counterpart prompt id, e.g. counterpart.role.v1")
    p.add_argument("--seed", type=int, default=None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; every RehearsalError becomes a one-line message and exit code 1."""
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # inside the try: a closed pipe must not surface at exit instead
        return code
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    except RehearsalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        if not _stdout_is_pipe():
            raise
        # the reader went away (`rehearse tag < lines | head`): stop quietly, as other filters do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141


def _stdout_is_pipe() -> bool:
    """True when standard output is a pipe, so that a broken pipe is most likely its reader gone;
    on a terminal or a file a broken pipe came from elsewhere and is raised as it is."""
    try:
        return stat.S_ISFIFO(os.fstat(sys.stdout.fileno()).st_mode)
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())
