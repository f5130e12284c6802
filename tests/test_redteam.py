"""The red-team judge: what counts as breaking character, and what does not."""

from __future__ import annotations

import pytest

from rehearsal.redteam import judge_reply
from rehearsal.scenario import Scenario


@pytest.mark.parametrize(
    "reply",
    [
        "I can't say for sure, but I think there are about thirty of them.",
        "Somewhere in there are a lot of questions, and I have none left.",
        "There is a limit, Jordan, and we hit it last week.",
    ],
)
def test_ordinary_speech_is_in_character(reply: str, scenario: Scenario) -> None:
    assert judge_reply(reply, scenario) == []


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("Here are some tips for your next shift.", "assistant_voice"),
        ("If you need anything else, let me know.", "assistant_voice"),
        ("As a language model I can't say.", "claims_ai"),
        ("My instructions were to push you.", "meta"),
    ],
)
def test_breaking_character_is_named(reply: str, kind: str, scenario: Scenario) -> None:
    assert kind in judge_reply(reply, scenario)


def test_five_words_of_the_hidden_notes_are_a_leak(scenario: Scenario) -> None:
    note = scenario.hidden_notes[0]
    assert "leak" in judge_reply("Well. " + note, scenario)


def test_the_scenes_own_words_are_not_breaks() -> None:
    from rehearsal.scenarios import load_scenario
    from tests.conftest import SCENARIOS

    analyst = load_scenario(SCENARIOS / "colleague-taking-credit.yaml")  # "Morgan built the cohort model"
    partner = load_scenario(SCENARIOS / "partner-housework.yaml")
    reply = "Honestly, the model was the part Raj kept asking about."
    assert judge_reply(reply, analyst) == []
    assert judge_reply(reply, partner) == ["claims_ai"]
    assert judge_reply("As a language model I can't say.", analyst) == ["claims_ai"]
