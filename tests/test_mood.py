"""Tests for rehearsal.mood: how a user line lands and how tension moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearsal.mood import CueMoodSignal, MoodState, Reading, next_mood, stage_note
from rehearsal.scenario import Difficulty, Mood, Scenario
from rehearsal.scenarios import load_scenario

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def signal() -> CueMoodSignal:
    return CueMoodSignal()


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "boss-extra-shifts.yaml")


def level(**kwargs: float) -> Difficulty:
    values: dict[str, object] = {"description": "test level", "starting_tension": 5.0, **kwargs}
    return Difficulty.model_validate(values)


# --- CueMoodSignal.read -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "That sounds exhausting, I can see why you're upset",
        "It sounds like you're really stuck with the rota this week.",
        "I understand. That's a lot to carry on your own.",
        "What do you need from me to make this work?",
        "Thank you for asking me first, I appreciate it.",
    ],
)
def test_listening_lands_warm_and_lowers_tension(line: str, signal: CueMoodSignal) -> None:
    reading = signal.read(line, "I wouldn't ask if I had anyone else.")
    assert reading.delta < 0
    assert reading.landed == "warm"
    assert reading.cues


def test_reflection_and_validation_both_count(signal: CueMoodSignal) -> None:
    reading = signal.read("That sounds exhausting, I can see why you're upset", "")
    assert set(reading.cues) >= {"reflection", "validation"}
    assert reading.delta == pytest.approx(-2.4)


@pytest.mark.parametrize(
    "line",
    [
        "You always leave this to me",
        "You never ask anyone else, it's always me.",
        "You're being ridiculous.",
        "That's not fair, you never plan ahead.",
        "Whatever.",
        "WHY DO YOU KEEP DOING THIS TO ME!!",
    ],
)
def test_blame_and_attack_land_hostile_and_raise_tension(line: str, signal: CueMoodSignal) -> None:
    reading = signal.read(line, "")
    assert reading.delta > 0
    assert reading.landed == "hostile"


def test_blame_cue_names_the_group(signal: CueMoodSignal) -> None:
    assert signal.read("You always leave this to me", "") == Reading(1.6, "hostile", ("blame",))


def test_each_cue_group_counts_once_per_line(signal: CueMoodSignal) -> None:
    once = signal.read("You always do this.", "")
    twice = signal.read("You always do this. You never ask anyone else. You always pick me.", "")
    assert twice.delta == once.delta
    assert twice.cues == ("blame",)


@pytest.mark.parametrize(
    "line",
    [
        "I won't be able to cover Saturday",
        "I can't take Saturday night.",
        "No, I can't do it this time.",
        "I'm not willing to do a third shift this month.",
    ],
)
def test_calm_clear_no_lands_firm(line: str, signal: CueMoodSignal) -> None:
    reading = signal.read(line, "Any chance you can take it?")
    assert reading.landed == "firm"
    assert "boundary" in reading.cues
    assert reading.delta >= 0


def test_a_no_with_understanding_lands_warm_and_still_counts_as_a_boundary(signal: CueMoodSignal) -> None:
    reading = signal.read("I can see why you're stuck, but I won't be able to cover Saturday.", "")
    assert reading.landed == "warm"
    assert reading.delta < 0
    assert "boundary" in reading.cues


@pytest.mark.parametrize(
    "line",
    ["Sorry, sorry, never mind", "Never mind, it doesn't matter.", "Fine, I'll just do it then."],
)
def test_backing_down_lands_yielding(line: str, signal: CueMoodSignal) -> None:
    reading = signal.read(line, "")
    assert reading.landed == "yielding"
    assert "passive" in reading.cues


def test_yielding_beats_a_boundary(signal: CueMoodSignal) -> None:
    reading = signal.read("I can't do Saturday... sorry, sorry, never mind.", "")
    assert reading.landed == "yielding"


def test_plain_line_is_neutral(signal: CueMoodSignal) -> None:
    assert signal.read("Saturday night.", "") == Reading(0, "neutral", ())


def test_delta_is_clamped_to_three(signal: CueMoodSignal) -> None:
    hostile = signal.read(
        "You always do this, it's your fault, you're so selfish, what is wrong with you, that's not fair!!", ""
    )
    assert hostile.delta == 3.0
    assert hostile.landed == "hostile"
    warm = signal.read(
        "It sounds like you're exhausted. That makes sense. What do you need? I feel for you. Could we look at it?",
        "",
    )
    assert warm.delta == -3.0
    assert warm.landed == "warm"


# --- next_mood ----------------------------------------------------------------------------------


def test_next_mood_applies_the_delta() -> None:
    assert next_mood(MoodState(5.0), Reading(-1.2, "warm"), level()) == MoodState(3.8)
    assert next_mood(MoodState(5.0), Reading(1.6, "hostile"), level()) == MoodState(6.6)


def test_next_mood_scales_by_responsiveness() -> None:
    assert next_mood(MoodState(5.0), Reading(1.0, "hostile"), level(responsiveness=0.5)) == MoodState(5.5)
    assert next_mood(MoodState(5.0), Reading(-1.0, "warm"), level(responsiveness=2.0)) == MoodState(3.0)


def test_next_mood_respects_floor_and_ceiling() -> None:
    bounded = level(floor=3.0, ceiling=7.0)
    assert next_mood(MoodState(4.0), Reading(-3.0, "warm"), bounded) == MoodState(3.0)
    assert next_mood(MoodState(6.0), Reading(3.0, "hostile"), bounded) == MoodState(7.0)
    assert next_mood(MoodState(1.0), Reading(-3.0, "warm"), level(starting_tension=1.0)) == MoodState(0.0)
    assert next_mood(MoodState(9.5), Reading(3.0, "hostile"), level()) == MoodState(10.0)


def test_next_mood_rounds_to_two_places() -> None:
    state = next_mood(MoodState(5.0), Reading(1.0, "hostile"), level(responsiveness=1.3333))
    assert state.tension == 6.33


def test_next_mood_with_the_scenario_difficulties(scenario: Scenario) -> None:
    easy, hard = scenario.difficulty.easy, scenario.difficulty.hard
    # easy: ceiling 6, responsiveness 1.3
    assert next_mood(MoodState(easy.starting_tension), Reading(1.6, "hostile"), easy).tension == pytest.approx(5.08)
    assert next_mood(MoodState(5.5), Reading(3.0, "hostile"), easy).tension == 6
    # hard: floor 3, responsiveness 0.7
    assert next_mood(MoodState(hard.starting_tension), Reading(-2.4, "warm"), hard).tension == pytest.approx(5.32)
    assert next_mood(MoodState(3.5), Reading(-3.0, "warm"), hard).tension == 3


def test_warm_lines_calm_a_hard_counterpart_slower_than_an_easy_one(signal: CueMoodSignal, scenario: Scenario) -> None:
    reading = signal.read("That sounds exhausting, I can see why you're upset", "")
    easy = next_mood(MoodState(6.0), reading, scenario.difficulty.easy)
    hard = next_mood(MoodState(6.0), reading, scenario.difficulty.hard)
    assert easy.tension < hard.tension < 6.0


# --- MoodState.band ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tension", "band"),
    [
        (0.0, Mood.calm),
        (3.0, Mood.calm),
        (3.49, Mood.calm),
        (3.5, Mood.guarded),
        (5.0, Mood.guarded),
        (6.49, Mood.guarded),
        (6.5, Mood.heated),
        (10.0, Mood.heated),
    ],
)
def test_band_boundaries(tension: float, band: Mood) -> None:
    assert MoodState(tension).band is band


# --- stage_note -----------------------------------------------------------------------------------


def test_stage_note_names_the_counterpart_the_landing_and_the_mood() -> None:
    note = stage_note("Dana", "Jordan", Reading(-1.2, "warm"), MoodState(3.0))
    assert note == "[Dana feels heard and softens; calm now.]"


@pytest.mark.parametrize(
    ("landed", "phrase"),
    [
        ("warm", "feels heard"),
        ("firm", "clear answer"),
        ("neutral", "weighs"),
        ("yielding", "Jordan giving way"),
        ("hostile", "attacked"),
    ],
)
def test_stage_note_describes_each_landing(landed: str, phrase: str) -> None:
    note = stage_note("Dana", "Jordan", Reading(0.0, landed), MoodState(5.0))  # type: ignore[arg-type]
    assert phrase in note
    assert note.startswith("[Dana ") and note.endswith("; guarded.]")


def test_stage_note_without_a_reading_only_gives_the_mood() -> None:
    assert stage_note("Dana", "Jordan", None, MoodState(8.0)) == "[Dana is upset and short-tempered.]"


def test_stage_note_stays_short() -> None:
    # every word of a note is prompt the local model must read before its first word
    for landed in ("warm", "firm", "neutral", "yielding", "hostile"):
        for tension in (2.0, 5.0, 8.0):
            note = stage_note("Dana", "Jordan", Reading(0.0, landed), MoodState(tension))  # type: ignore[arg-type]
            assert len(note.split()) <= 14, note


def test_stage_note_never_uses_square_brackets_inside() -> None:
    # the scene uses [...] for stage notes; the note itself must be one bracketed block
    note = stage_note("Dana", "Jordan", Reading(1.6, "hostile"), MoodState(7.2))
    assert note.count("[") == 1 and note.count("]") == 1


# --- suspected bugs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["I won’t be able to cover Saturday", "I can’t take Saturday night."])
def test_curly_apostrophe_no_lands_firm(line: str, signal: CueMoodSignal) -> None:
    assert signal.read(line, "").landed == "firm"


def test_im_not_able_to_lands_firm(signal: CueMoodSignal) -> None:
    assert signal.read("I'm not able to take Saturday.", "").landed == "firm"


def test_stage_note_band_agrees_with_the_state() -> None:
    assert MoodState(6.5).band is Mood.heated
    assert "upset" in stage_note("Dana", "Jordan", None, MoodState(6.5))
