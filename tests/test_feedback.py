"""Per-turn feedback and the session report, composed without any language model."""

from __future__ import annotations

import json

from rehearsal.feedback import compose_feedback, suggest_rewrite
from rehearsal.report import ReportTurn, build_report
from rehearsal.scenario import Scenario
from rehearsal.tagger import Tagging
from tests.fakes import FakeRetriever


def test_each_point_cites_the_retrieved_card_and_its_evidence(scenario: Scenario) -> None:
    tagging = Tagging(["validation", "blame"], {"validation": "I get why.", "blame": "You always do this."})
    retriever = FakeRetriever()
    feedback = compose_feedback(tagging, "I get why. You always do this.", scenario, retriever, set())
    assert [(i.kind, i.label) for i in feedback.items] == [("well", "validation"), ("try", "blame")]
    assert all(i.card_id == f"broken-record-{i.label}" for i in feedback.items)
    assert feedback.items[1].evidence == "You always do this."
    assert "Say it once, calmly." in feedback.items[1].text
    assert feedback.rewrite and "always" not in feedback.rewrite


def test_no_pitfall_suggests_an_unused_focus_skill(scenario: Scenario) -> None:
    feedback = compose_feedback(Tagging(["boundary"], {"boundary": "No."}), "No.", scenario, FakeRetriever(), set())
    tries = [i for i in feedback.items if i.kind == "try"]
    assert tries and tries[0].label in {s.value for s in scenario.skills_in_focus} - {"boundary"}
    assert feedback.rewrite is None


def test_rewrites_remove_the_pitfall(scenario: Scenario) -> None:
    assert suggest_rewrite("blame", "You never help with the rota.", scenario).startswith(
        "Dana, I'd really like it if you help"
    )
    assert "twenty minutes" in suggest_rewrite("stonewalling", "Whatever.", scenario)


def test_report_counts_pitfalls_goals_and_escapes_markdown(scenario: Scenario) -> None:
    retriever = FakeRetriever()
    blame = compose_feedback(
        Tagging(["blame"], {"blame": "x"}), "You *always* <b>do</b> this", scenario, retriever, set()
    )
    good = compose_feedback(Tagging(["validation", "boundary"], {}), "Fair. But no.", scenario, retriever, set())
    turns = [
        ReportTurn(1, "You *always* <b>do</b> this", "Hm.", 6.6, blame),
        ReportTurn(2, "Fair. But no.", "Okay.", 4.0, good),
    ]
    report = build_report(scenario, 5.0, turns, retriever)
    assert report.label_counts["blame"] == 1 and report.listening == 1 and report.asserting == 1
    assert report.mood == [5.0, 6.6, 4.0]
    assert {g["objective"]: g["met"] for g in report.goals}["Use boundary at least once"] is True
    assert report.next_steps and report.next_steps[0].label == "blame"
    markdown = report.to_markdown()
    assert "<b>" not in markdown and "\\*always\\*" in markdown
    assert json.loads(report.to_json())["pitfalls"][0]["line"] == "You *always* <b>do</b> this"


def test_rewrite_names_a_concrete_habit_but_not_a_verdict(scenario: Scenario) -> None:
    keep = suggest_rewrite("blame", "You keep interrupting me in meetings.", scenario)
    assert keep.startswith("When you keep interrupting me in meetings, I feel")
    verdict = suggest_rewrite("blame", "You never think about anyone but yourself.", scenario)
    assert "anyone but yourself" not in verdict and "sort it out together" in verdict
