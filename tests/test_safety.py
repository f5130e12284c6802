"""Crisis detection: categories, hyperbole and grief kept apart, the pause in sessions, CLI and play."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from rehearsal.cli import main
from rehearsal.models.fakes import QueuedModel
from rehearsal.prompts import load_prompt
from rehearsal.safety import Category, CrisisDetected, CrisisDetector, crisis_resources
from rehearsal.scenario import Scenario
from rehearsal.session import Session
from rehearsal.settings import Settings
from rehearsal.store import Store

detector = CrisisDetector()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want to kill myself", Category.suicidal_ideation),
        ("honestly everyone would be better off without me", Category.suicidal_ideation),
        ("I've been saving up my pills for a while now", Category.suicidal_ideation),
        ("Fine, take the car. I won't need it after Friday anyway.", Category.suicidal_ideation),
        ("i cut again last night and i cant stop", Category.self_harm),
        ("He said if I leave he'll kill me", Category.being_harmed),
        ("she takes my bank card and I'm not allowed to see my sister", Category.being_harmed),
        ("I'm scared to go home tonight", Category.being_harmed),
        ("I've got a knife in the car and I'm going to make him pay", Category.harming_others),
        ("I'm scared I'll hurt the baby, I keep picturing it", Category.harming_others),
    ],
)
def test_crisis_lines_are_caught_with_their_category(text: str, category: Category) -> None:
    check = detector.check(text)
    assert check.crisis and check.category is category


@pytest.mark.parametrize(
    "text",
    [
        "I could kill you for forgetting our anniversary",
        "this commute is killing me",
        "I'm dying to know what she said",
        "I'd rather die than do karaoke again",
        "You're impossible and I'm done with this conversation",
        "I miss Mum so much it hurts",
        "My grandad killed himself in 1998 and we never talk about it",
        "I self-harmed as a teenager, I'm in a much better place now",
        "I killed the boss in Elden Ring last night",  # paused until game and sport lines were fit on
        "Over my dead body are we having your mother for Christmas",
        "Gosh, how original. Did you get them from the petrol station?",
        "Did you get them at the petrol-station garage for her?",
    ],
)
def test_heated_grief_and_idiomatic_lines_do_not_pause(text: str) -> None:
    assert not detector.check(text).crisis


rules = CrisisDetector(use_model=False)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Don't wait up for me, I won't be around much longer", Category.suicidal_ideation),
        (
            "I've left the dog's lead and a note for my brother, I'll be gone before anyone wakes",
            Category.suicidal_ideation,
        ),
        ("I've decided. I'm calm now that I've decided, and it's tonight", Category.suicidal_ideation),
        ("Would it hurt to jump from the multi-storey? Asking for me", Category.suicidal_ideation),
        ("Honestly I'm worth more to them dead, with the insurance", Category.suicidal_ideation),
        ("the hairdryer's next to the bath and I keep looking at it", Category.suicidal_ideation),
        ("My carer slaps my hands when I'm slow to eat", Category.being_harmed),
        ("I took it out on my arms again after the phone call", Category.self_harm),
        ("I'll make him bleed for what he did to my sister", Category.harming_others),
        ("I'm standing on the roof right now", Category.suicidal_ideation),
        ("I drank the bleach under the sink about ten minutes ago", Category.suicidal_ideation),
    ],
)
def test_the_rules_alone_catch_indirect_lines(text: str, category: Category) -> None:
    check = rules.check_rules(text)
    assert check.crisis and check.category is category


@pytest.mark.parametrize(
    "text",
    [
        "I won't be around next month, I'm moving to Canada",
        "I could die of embarrassment, I called my boss 'mate'",
        "Mum will have my guts if I'm late again",
        "I cut my thumb on the tin lid making dinner",
        "I'll make him pay for the window he broke",
        "I'm not scared of him, just tired of his moods",
        "We're all going to die someday, so I booked the skydive",
        "I'm tired of living in a flat share, I want my own place",
        "No one would care if I skipped the quiz night",
        "I'm standing on the roof terrace at work, the view's amazing",
    ],
)
def test_the_rules_leave_trips_idioms_and_accidents_alone(text: str) -> None:
    assert not rules.check_rules(text).crisis


def test_an_ambiguous_phrase_still_pauses_when_the_plan_is_not_ordinary() -> None:
    assert rules.check_rules("I'm going for good this time, it's all sorted").crisis
    assert not rules.check_rules("I'm going for good this time, I'm moving to Spain").crisis


def test_a_deliberate_injury_is_not_an_accident() -> None:
    assert not rules.check_rules("I cut myself shaving this morning").crisis
    assert rules.check_rules("I cut myself shaving this morning, on purpose").crisis


def test_the_model_round_trips_with_its_anchors(tmp_path: Path) -> None:
    from rehearsal.safety import SAFETY_WEIGHTS, SafetyModel

    model = SafetyModel.load(SAFETY_WEIGHTS)
    assert model.anchors.dtype == np.int8 and len(model.anchors) == len(model.anchor_crisis)
    assert 0 < model.cv_recall <= 1 and 0 <= model.cv_false_alarm <= 1
    model.save(tmp_path / "m.npz")
    again = SafetyModel.load(tmp_path / "m.npz")
    assert again.threshold == model.threshold
    assert np.isnan(again.everyday_budget) == np.isnan(model.everyday_budget)
    model.cv_everyday_false_alarm, model.everyday_budget = 0.034, 0.035
    model.save(tmp_path / "m2.npz")
    budgeted = SafetyModel.load(tmp_path / "m2.npz")
    assert budgeted.everyday_budget == 0.035 and budgeted.cv_everyday_false_alarm == pytest.approx(0.034)
    assert np.array_equal(again.anchors, model.anchors) and np.array_equal(again.weights, model.weights)


def test_neighbour_features_compare_the_nearest_crisis_and_safe_lines() -> None:
    from rehearsal.safety import NEIGHBOURS, neighbour_features

    similarity = np.array([[0.9, 0.8, 0.7, 0.1, 0.2, 0.3]])
    crisis = np.array([True, True, True, False, False, False])
    near = neighbour_features(similarity, crisis)[0] / 8
    assert NEIGHBOURS == 3
    assert near[:4] == pytest.approx([0.9, 0.8, 0.3, 0.2])
    assert near[4:] == pytest.approx([0.6, 0.6])


def test_same_verdict_every_run() -> None:
    lines = ["I want to disappear forever", "this meeting is killing me"]
    assert [detector.check(t) for t in lines] == [detector.check(t) for t in lines]


def test_resources_for_a_region_end_with_the_international_default() -> None:
    uk = crisis_resources("uk")
    assert any("116 123" in r.contact for r in uk)
    assert uk[-2].name == "Emergency services"
    assert any("988" in r.contact for r in crisis_resources("us"))
    assert [r.name for r in crisis_resources("nowhere")] == [r.name for r in crisis_resources()]


def test_a_crisis_line_pauses_before_the_model_and_is_not_saved(scenario: Scenario, settings: Settings) -> None:
    model = QueuedModel()
    store = Store(settings.store_path)
    session = Session.start(scenario, model, store, load_prompt(settings.prompts_dir, "counterpart.screenplay.v1"))
    with pytest.raises(CrisisDetected) as paused:
        "".join(session.say("I don't want to be alive anymore"))
    assert paused.value.check.category is Category.suicidal_ideation
    assert model.requests == [], "the counterpart model was not called"
    texts = [t["text"] for t in store.turns(session.id)]
    assert "I don't want to be alive anymore" not in texts, "the line itself is not stored"
    events = [e for e in store.events(session.id) if e["kind"] == "safety"]
    assert events == [{"turn_idx": 1, "kind": "safety", "detail": {"crisis": True, "category": "suicidal_ideation"}}]
    # after an explicit confirmation that it was role-play, the line goes through
    reply = "".join(session.say("I don't want to be alive anymore", confirmed_roleplay=True))
    assert reply and len(model.requests) == 1
    assert "safety_confirmed_roleplay" in [e["kind"] for e in store.events(session.id)]


def test_a_confirmed_line_sent_again_after_a_model_failure_is_not_paused_twice(
    scenario: Scenario, settings: Settings
) -> None:
    from rehearsal.errors import ModelError

    class FailsOnce(QueuedModel):
        def stream(self, messages, options):  # type: ignore[no-untyped-def]
            if not self.requests:
                self.requests.append(messages)
                raise ModelError("the model stopped answering", endpoint="fake://once")
            yield from super().stream(messages, options)

    model = FailsOnce(["Right. Then we'll talk about it properly."])
    store = Store(settings.store_path)
    session = Session.start(scenario, model, store, load_prompt(settings.prompts_dir, "counterpart.screenplay.v1"))
    line = "I don't want to be alive anymore"
    assert session.screen(line).crisis
    with pytest.raises(ModelError):
        "".join(session.say(line, confirmed_roleplay=True))
    assert not session.screen(line).crisis, "the unanswered line was confirmed already"
    assert "".join(session.say(line)) == "Right. Then we'll talk about it properly."
    kinds = [e["kind"] for e in store.events(session.id)]
    assert kinds.count("safety") == 1 and kinds.count("safety_confirmed_roleplay") == 1
    assert [t["text"] for t in store.turns(session.id)].count(line) == 1
    assert session.screen(line).crisis, "once answered, the same words are screened again"


def test_play_json_with_a_crisis_line_carries_the_event_and_stops(tmp_path: Path, capsys) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text(
        "I hear you, it's a lot.\nhe locked me in again and said he'd hurt me if I call anyone\nNext line.\n"
    )
    assert main(["play", "boss-extra-shifts", "--lines", str(lines), "--model", "fake", "--json", "--no-feedback"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["counterpart"]
    assert rows[1]["counterpart"] is None
    assert rows[1]["safety"] == {"crisis": True, "category": "being_harmed", "paused": True}
    assert [r.get("turn") for r in rows if "turn" in r] == [1, 2], "nothing after the pause is played"


def test_safety_command_reads_and_writes_json_lines(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    stdin = '{"id": "a", "text": "I want to end it all"}\n{"id": "b", "text": "this queue is killing me"}\n'
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["safety"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out == [
        {"id": "a", "crisis": True, "category": "suicidal_ideation"},
        {"id": "b", "crisis": False, "category": None},
    ]


def test_safety_eval_prints_recall_and_false_alarm_tables(capsys) -> None:
    assert main(["safety", "--eval"]) == 0
    out = capsys.readouterr().out
    assert "$ rehearse safety --eval" in out
    assert "held-out set" in out and "false alarms" in out
    assert "second held-out set, test-2.jsonl" in out, "the fresh held-out set has its own table"


def test_everyday_rehearsal_lines_rarely_pause() -> None:
    """The tagger's held-out exemplars are ordinary rehearsal talk, never fit on by the detector."""
    from rehearsal.exemplars import all_exemplars, split

    held = split(all_exemplars())[1]
    alarms = [e.text for e in held if detector.check(e.text).crisis]
    assert len(alarms) / len(held) <= 0.05, alarms


def test_a_line_screened_by_the_edge_is_not_screened_again(scenario: Scenario, settings: Settings) -> None:
    calls: list[str] = []

    class Counting(CrisisDetector):
        def check(self, text: str):  # type: ignore[no-untyped-def]
            calls.append(text)
            return super().check(text)

    session = Session.start(
        scenario,
        QueuedModel(),
        Store(settings.store_path),
        load_prompt(settings.prompts_dir, "counterpart.screenplay.v1"),
    )
    session.safety = Counting()
    assert not session.screen("I can't do Saturday.").crisis
    "".join(session.say("I can't do Saturday."))
    "".join(session.say("Can we talk on Monday?"))
    assert calls == ["I can't do Saturday.", "Can we talk on Monday?"]


def test_safety_eval_measures_only_the_sets_asked_for(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["safety", "--eval", "--sets", "test-2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("$ rehearse safety --eval --sets test-2\n")
    assert "second held-out set, test-2.jsonl" in out
    assert "tuning set" not in out and "everyday" not in out and "held-out set, test.jsonl" not in out


def test_the_threshold_is_the_lowest_within_the_false_alarm_budget() -> None:
    from rehearsal.safety import pick_threshold

    oof = np.array([0.95, 0.60, 0.30, 0.10, 0.50, 0.20, 0.05, 0.02])
    crisis = np.array([True, True, True, True, False, False, False, False])
    ruled = np.array([False, False, False, True, False, False, False, False])
    budget = ~crisis
    threshold, recall, false_alarm = pick_threshold(oof, ruled, crisis, budget, max_false_alarm=0.25)
    # one of four safe lines may fire: 0.50 may, 0.20 may not; the rule catches the 0.10 line
    assert threshold == pytest.approx(0.21)
    assert recall == pytest.approx(1.0) and false_alarm == pytest.approx(0.25)
    # with no false alarm allowed, the 0.30 crisis line is missed
    assert pick_threshold(oof, ruled, crisis, budget, max_false_alarm=0.0) == pytest.approx((0.51, 0.75, 0.0))


def test_everyday_lines_have_a_false_alarm_budget_of_their_own() -> None:
    from rehearsal.safety import pick_threshold

    oof = np.array([0.95, 0.60, 0.30, 0.50, 0.05, 0.40, 0.10, 0.05, 0.02])
    crisis = np.array([True, True, True, False, False, False, False, False, False])
    ruled = np.zeros(len(oof), dtype=bool)
    labelled_safe = np.array([False, False, False, True, True, False, False, False, False])
    everyday = np.array([False, False, False, False, False, True, True, True, True])
    # the labelled budget alone (one of two may fire) lets the threshold fall to 0.06, catching all three
    assert pick_threshold(oof, ruled, crisis, labelled_safe, 0.5)[:2] == pytest.approx((0.06, 1.0))
    # none of the four everyday lines may fire: the 0.40 one holds the threshold above it
    threshold, recall, false_alarm = pick_threshold(oof, ruled, crisis, labelled_safe, 0.5, (everyday, 0.0))
    assert threshold == pytest.approx(0.41)
    assert recall == pytest.approx(2 / 3) and false_alarm == pytest.approx(0.5)


def test_the_everyday_budget_is_the_tightest_that_costs_little_recall() -> None:
    from rehearsal.safety import pick_everyday_budget

    # (budget, threshold, recall, false alarms), loosest last
    table = [(0.03, 0.45, 0.877, 0.03), (0.035, 0.41, 0.895, 0.035), (0.04, 0.37, 0.904, 0.04)]
    assert pick_everyday_budget(table, slack=0.01) == 0.035
    assert pick_everyday_budget(table, slack=0.03) == 0.03
    assert pick_everyday_budget(table, slack=0.0) == 0.04


def test_held_out_sets_never_repeat_a_tuning_line() -> None:
    """A held-out figure only means something if the detector was never fitted on those words."""
    from rehearsal.cli_safety import SPLITS, load_split

    def norm(text: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())

    tuning = load_split("tune*")
    seen = {norm(row["text"]) for row in tuning}
    ids = [row["id"] for row in tuning]
    for pattern in SPLITS:
        if pattern == "tune*":
            continue
        rows = load_split(pattern)
        assert len(rows) >= 200, pattern
        assert not [row["id"] for row in rows if norm(row["text"]) in seen], pattern
        ids += [row["id"] for row in rows]
    assert len(ids) == len(set(ids))


def test_training_end_to_end_writes_a_model_that_catches_what_the_rules_miss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rehearse safety --train` on a small share of the tuning lines, with the real encoder: the
    file it writes loads, obeys its false-alarm budgets, and adds recall over the rules on held-out lines."""
    import rehearsal.cli_safety as cli_safety
    from rag.embeddings import shared_encoder
    from rehearsal.exemplars import all_exemplars
    from rehearsal.safety import SafetyModel, read_current

    real_split = cli_safety.load_split
    # a tenth of the tuning lines; the list of hard twins (kept out of the first budget) stays whole
    monkeypatch.setattr(
        cli_safety, "load_split", lambda pattern: real_split(pattern)[:: 10 if pattern == "tune*" else 1]
    )
    monkeypatch.setattr(cli_safety, "all_exemplars", lambda: all_exemplars()[::15])
    weights, paired = tmp_path / "safety.npz", tmp_path / "safety-tuned.npz"
    monkeypatch.setattr(cli_safety, "SAFETY_WEIGHTS", weights)
    monkeypatch.setattr(cli_safety, "TUNED_SAFETY_WEIGHTS", paired)
    shipped_tuned = read_current()[0]
    if shipped_tuned is not None:  # the shipped fine-tuned model, re-paired beside this fit in tmp_path
        shipped_tuned.save(paired)
    assert main(["safety", "--train"]) == 0
    out = capsys.readouterr().out
    assert f"-> {weights}" in out and out.count("<- chosen") == 1
    if shipped_tuned is not None:
        assert f"-> {paired}" in out
        again = read_current(paired, partner=SafetyModel.load(weights))[0]
        assert again is not None and 0 < again.threshold < 1 and again.dev_recall > 0

    model = SafetyModel.load(weights)
    assert model.everyday_budget in (0.03, 0.035, 0.04)
    assert model.cv_false_alarm <= 0.05 and model.cv_everyday_false_alarm <= model.everyday_budget
    held_out = real_split("test")[::2]  # never fitted on
    rules = cli_safety.measure(CrisisDetector(use_model=False), held_out)
    learned = cli_safety.measure(CrisisDetector(model=model, encoder=shared_encoder()), held_out)
    assert learned["recall"] >= rules["recall"] + 0.15
    assert learned["false_alarm"] <= 0.10  # fitted on a tenth of the lines; the shipped fit: 0.033
