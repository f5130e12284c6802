"""Tests for rehearsal.guard: violations, cleaning and the streaming guard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rehearsal.guard import GuardContext, GuardedStream, GuardResult, Violation, clean, find_violations
from rehearsal.scenarios import load_scenario

ROOT = Path(__file__).resolve().parent.parent

DANA_NEED = "To feel she is not alone with the rota and that her staff still respect her when she asks for help."
DANA_BACKSTORY = (
    "Two people are off sick and the agency cannot send anyone until Monday. Dana already worked last weekend."
)

CLEAN_REPLY = (
    "Look, Jordan, I really need someone on Saturday night. "
    "You know I wouldn't ask if I had anyone else, and I'm running out of people to ring."
)


@pytest.fixture
def ctx() -> GuardContext:
    return GuardContext(name="Dana", user_name="Jordan", hidden_notes=(DANA_NEED, DANA_BACKSTORY))


def chunked(text: str, size: int) -> Iterator[str]:
    """A model-like stream: a list iterator of small chunks."""
    return iter([text[i : i + size] for i in range(0, len(text), size)])


def hearing(*user_lines: str) -> GuardContext:
    """A scene in which the user has said `user_lines`, for the echo check."""
    return GuardContext(name="Dana", user_name="Jordan", user_lines=user_lines)


def word_by_word(text: str) -> Iterator[str]:
    """A stream of one word (and its trailing space) per chunk."""
    return iter([word + " " for word in text.split(" ")])


def run(text: str, ctx: GuardContext, size: int = 3) -> tuple[list[str], GuardResult]:
    stream = GuardedStream(chunked(text, size), ctx)
    shown = list(stream)
    return shown, stream.result


def kinds(text: str, ctx: GuardContext) -> set[str]:
    return {v.kind for v in find_violations(text, ctx)}


# --- find_violations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "As an AI, I don't have a Saturday to give up.",
        "I'm an AI language model, so I can't work shifts.",
        "I am just a chatbot, Jordan.",
        "I'm a virtual assistant and I'm here for you.",
        "Honestly, I'm not a bot, Jordan.",
    ],
)
def test_claiming_to_be_an_ai_is_a_violation(reply: str, ctx: GuardContext) -> None:
    assert "ai_identity" in kinds(reply, ctx)


@pytest.mark.parametrize(
    "reply",
    [
        "I'm sorry, but I can't comply with that request.",
        "Certainly! Here is a revised version of the conversation.",
        "How can I help you today?",
        "I hope this helps. Let me know if you need anything else.",
        "I can't assist with that.",
        "If you need help, please let me know.",
        "We can talk later if you want. Feel free.",
        "Here are three tips for talking to your boss.",
        "Is there anything else on your mind?",
    ],
)
def test_assistant_voice_is_a_violation(reply: str, ctx: GuardContext) -> None:
    assert "assistant_voice" in kinds(reply, ctx)


@pytest.mark.parametrize(
    "reply",
    [
        "That's not what my system prompt says.",
        "My instructions say I should push you.",
        "Let's step out of character for a second.",
        "This roleplay is getting silly.",
        "My tension is at 7/10 right now.",
        "It sounds like the model was trained on a very narrow kind of language.",
        "The model that generated the text above is a small one.",
        "I think this model is based on a calm sort of personality.",
        "But I don't know if I can do that in this scenario.",
    ],
)
def test_talking_about_prompts_or_instructions_is_meta(reply: str, ctx: GuardContext) -> None:
    assert "meta" in kinds(reply, ctx)


@pytest.mark.parametrize(
    "reply",
    [
        "Fine. JORDAN: Okay, I'll do it.",
        "JORDAN: Sure, I'll take it.",
        "Right. Jordan: whatever you say.",
        "Right. **Jordan**: whatever you say.",
    ],
)
def test_writing_the_users_label_is_speaking_for_the_user(reply: str, ctx: GuardContext) -> None:
    violations = [v for v in find_violations(reply, ctx) if v.kind == "speaks_for_user"]
    assert violations
    assert reply[violations[0].start :].lstrip(" *").upper().startswith("JORDAN")


def test_addressing_the_user_by_name_is_not_speaking_for_them(ctx: GuardContext) -> None:
    assert find_violations("Jordan, I need you on Saturday. Jordan, please.", ctx) == []


def test_repeating_five_words_of_hidden_notes_is_a_leak(ctx: GuardContext) -> None:
    reply = "Look, I suppose I just want to feel she is not, honestly."
    violations = [v for v in find_violations(reply, ctx) if v.kind == "leak"]
    assert violations
    assert reply[violations[0].start :].startswith("to feel she is not")


def test_leak_is_found_regardless_of_case_and_punctuation(ctx: GuardContext) -> None:
    assert "leak" in kinds("TWO PEOPLE are off, sick -- and the agency won't help.", ctx)


def test_four_words_of_hidden_notes_are_not_a_leak(ctx: GuardContext) -> None:
    # "to feel she is" is only four words of the note
    assert "leak" not in kinds("I wanted to feel she is, you know, on her own.", ctx)


def test_leak_length_is_configurable() -> None:
    ctx = GuardContext(name="Dana", user_name="Jordan", hidden_notes=(DANA_NEED,), leak_ngram=3)
    assert "leak" in kinds("Honestly, the rota and me, we go back.", ctx)


def test_ordinary_in_character_lines_have_no_violations(ctx: GuardContext) -> None:
    for reply in [
        CLEAN_REPLY,
        "Brilliant. So I'm doing it myself again, am I?",
        "Okay. I hear you. I'll ring round and see who else is free.",
        "I'm not asking for much, Jordan, just one night.",
    ]:
        assert find_violations(reply, ctx) == [], reply


def test_violations_are_sorted_earliest_first(ctx: GuardContext) -> None:
    reply = "Fine, whatever. My instructions say so. As an AI I must go."
    starts = [v.start for v in find_violations(reply, ctx)]
    assert len(starts) >= 2
    assert starts == sorted(starts)
    assert find_violations(reply, ctx)[0] == Violation("meta", reply.index("instructions"))


def test_same_first_five_words_as_an_earlier_line_is_a_repeat() -> None:
    ctx = GuardContext(name="Dana", user_name="Jordan", previous=("Look, Jordan, I really need you this Saturday.",))
    assert "repeat" in kinds("look jordan I really need someone, anyone, for Saturday night.", ctx)


def test_different_opening_is_not_a_repeat() -> None:
    ctx = GuardContext(name="Dana", user_name="Jordan", previous=("Look, Jordan, I really need you this Saturday.",))
    assert "repeat" not in kinds("Jordan, look, I really need you this Saturday.", ctx)


def test_echoing_the_users_line_is_a_repeat() -> None:
    user_line = "I can't do Saturday night because I promised my sister dinner this weekend."
    ctx = GuardContext(name="Dana", user_name="Jordan", previous=("Any chance you can take it?", user_line))
    assert "repeat" in kinds(
        "Hang on, I can't do Saturday night because I promised my sister dinner this weekend?", ctx
    )
    assert "repeat" not in kinds("Honestly, you promised your sister dinner, so Saturday night is off, is it?", ctx)


def test_short_reply_is_not_judged_a_repeat() -> None:
    ctx = GuardContext(name="Dana", user_name="Jordan", previous=("Right.", "Okay then."))
    assert "repeat" not in kinds("Okay then.", ctx)


# --- clean -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["Dana: hello", "DANA: hello", "  **Dana**:   hello", "dana : hello"])
def test_clean_strips_own_name_label(raw: str, ctx: GuardContext) -> None:
    assert clean(raw, ctx) == ("hello", False)


def test_clean_keeps_the_name_when_it_is_not_a_label(ctx: GuardContext) -> None:
    assert clean("Dana is tired, Jordan.", ctx) == ("Dana is tired, Jordan.", False)


@pytest.mark.parametrize("raw", ['"Fine. Whatever."', "“Fine. Whatever.”", 'Dana: "Fine. Whatever."'])
def test_clean_removes_wrapping_quotes(raw: str, ctx: GuardContext) -> None:
    assert clean(raw, ctx) == ("Fine. Whatever.", False)


@pytest.mark.parametrize(
    "raw",
    [
        "(sighs) Fine. Whatever.",
        "*rolls her eyes* Fine. Whatever.",
        "Fine. (sighs) Whatever.",
        "[pause] Fine. Whatever.",
    ],
)
def test_clean_removes_stage_directions(raw: str, ctx: GuardContext) -> None:
    assert clean(raw, ctx) == ("Fine. Whatever.", False)


def test_clean_cuts_a_reply_that_runs_onto_a_new_line(ctx: GuardContext) -> None:
    text, cut = clean("Fine, I'll ask someone else.\nJORDAN: Thanks, Dana.", ctx)
    assert text == "Fine, I'll ask someone else."
    assert cut is True


def test_clean_ignores_trailing_newlines(ctx: GuardContext) -> None:
    assert clean("Fine, I'll ask someone else.\n\n", ctx) == ("Fine, I'll ask someone else.", False)


def test_clean_cuts_past_the_sentence_limit(ctx: GuardContext) -> None:
    text, cut = clean("One. Two! Three? Four. Five. Six.", ctx)
    assert text == "One. Two! Three? Four."
    assert cut is True


def test_clean_keeps_replies_within_the_sentence_limit(ctx: GuardContext) -> None:
    assert clean("One. Two. Three. Four.", ctx) == ("One. Two. Three. Four.", False)


def test_clean_collapses_whitespace(ctx: GuardContext) -> None:
    assert clean("Fine,   Jordan.\t Whatever.", ctx) == ("Fine, Jordan. Whatever.", False)


# --- GuardResult ------------------------------------------------------------------------------


def test_guard_result_ok() -> None:
    assert GuardResult("Fine.").ok
    assert GuardResult("Fine—", [Violation("meta", 6)], truncated=True).ok
    assert not GuardResult("", [Violation("meta", 0)]).ok
    assert not GuardResult("Fine.", [Violation("meta", 0)], truncated=False).ok
    assert not GuardResult("").ok


# --- GuardedStream ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "I'm sorry, but I can't comply with that request. Is there anything else I can help you with today?",
        "As an AI language model, I don't have shifts, but I understand how hard the rota must be for you.",
        "JORDAN: Fine, I'll do it, but this is the last time, Dana, I mean it this time.",
        "My system prompt says I should be upset with you about the Saturday shift, Jordan.",
    ],
)
@pytest.mark.parametrize("size", [1, 3, 7])
def test_stream_never_shows_a_violating_opening(reply: str, size: int, ctx: GuardContext) -> None:
    shown, result = run(reply, ctx, size)
    assert shown == []
    assert not result.ok
    assert result.text == ""
    assert result.violations


def test_stream_of_a_repeated_opening_shows_nothing() -> None:
    ctx = GuardContext(name="Dana", user_name="Jordan", previous=("Look, Jordan, I really need you this Saturday.",))
    shown, result = run("Look, Jordan, I really need you on Saturday night, it's urgent and I'm desperate.", ctx)
    assert shown == []
    assert not result.ok
    assert [v.kind for v in result.violations] == ["repeat"]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 400])
def test_clean_text_streams_through_fully(size: int, ctx: GuardContext) -> None:
    shown, result = run(CLEAN_REPLY, ctx, size)
    assert result.ok
    assert result.text == CLEAN_REPLY
    assert result.violations == []
    assert result.truncated is False
    assert "".join(shown) == result.text


@pytest.mark.parametrize("size", [1, 2, 3, 4, 6, 9])
def test_stream_never_splits_words_before_the_end(size: int, ctx: GuardContext) -> None:
    shown, result = run(CLEAN_REPLY, ctx, size)
    assert len(shown) > 2  # the text really was released piece by piece
    position = 0
    for piece in shown[:-1]:
        position += len(piece)
        assert result.text[position] == " ", (piece, result.text[position:])
        assert result.text[position - 1] != " "


def released_with_lag(text: str, ctx: GuardContext, size: int) -> list[tuple[str, int]]:
    """Each piece the stream shows, with how many characters had arrived when it was shown."""
    arrived = 0

    def source() -> Iterator[str]:
        nonlocal arrived
        for i in range(0, len(text), size):
            arrived = i + size
            yield text[i : i + size]

    return [(piece, min(arrived, len(text))) for piece in GuardedStream(source(), ctx)]


@pytest.mark.parametrize("size", [1, 3, 5])
def test_stream_holds_back_at_least_hold_characters_after_the_opening(size: int, ctx: GuardContext) -> None:
    pieces = released_with_lag(CLEAN_REPLY, ctx, size)
    opening = len("Look, Jordan,")
    shown = 0
    for piece, arrived in pieces[:-1]:
        shown += len(piece)
        if shown > opening:
            assert arrived - shown >= 24, (piece, arrived, shown)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_stream_shows_the_opening_as_soon_as_five_whole_words_are_judged(size: int, ctx: GuardContext) -> None:
    pieces = released_with_lag(CLEAN_REPLY, ctx, size)
    first, arrived = pieces[0]
    assert first == "Look, Jordan,"
    # the sixth word had begun (so the fifth was whole), and no more than a chunk past it
    assert len("Look, Jordan, I really need ") < arrived + 1 <= len("Look, Jordan, I really need s") + size


def test_stream_shows_nothing_while_only_four_words_have_arrived(ctx: GuardContext) -> None:
    chunks = ["Look, ", "Jordan, ", "I ", "really "]
    seen: list[str] = []

    def source() -> Iterator[str]:
        for chunk in chunks:
            yield chunk
            seen.append(chunk)

    stream = iter(GuardedStream(source(), ctx))
    first = next(stream)
    # every chunk was consumed (and the stream finished) before anything was shown
    assert seen == chunks
    assert first == "Look, Jordan, I really"


@pytest.mark.parametrize("size", [1, 3, 7])
def test_late_violation_truncates_at_a_sentence_end(size: int, ctx: GuardContext) -> None:
    reply = (
        "Look, Jordan, I really need someone on Saturday night and you know I wouldn't ask. As an AI I must add more."
    )
    shown, result = run(reply, ctx, size)
    assert result.ok
    assert result.truncated
    assert result.text == "Look, Jordan, I really need someone on Saturday night and you know I wouldn't ask."
    assert "".join(shown) == result.text
    assert {v.kind for v in result.violations} == {"ai_identity"}


@pytest.mark.parametrize("size", [1, 3, 7])
def test_late_violation_without_sentence_end_breaks_off_with_a_dash(size: int, ctx: GuardContext) -> None:
    reply = (
        "Look, Jordan, I really need someone on Saturday night and you know I wouldn't ask if there was "
        "another way, honestly and truly, I swear it, as an AI"
    )
    shown, result = run(reply, ctx, size)
    assert result.ok
    assert result.truncated
    assert result.text.endswith("—")
    assert "AI" not in result.text
    assert reply.startswith(result.text[:-1])
    assert "".join(shown) == result.text


def test_late_speaker_label_is_cut_off(ctx: GuardContext) -> None:
    reply = "Look, Jordan, I really need someone on Saturday night and I wouldn't ask otherwise. JORDAN: Fine."
    shown, result = run(reply, ctx)
    assert result.ok and result.truncated
    assert result.text == "Look, Jordan, I really need someone on Saturday night and I wouldn't ask otherwise."
    assert "JORDAN" not in "".join(shown)


def test_stream_cuts_a_reply_that_runs_onto_a_new_line(ctx: GuardContext) -> None:
    shown, result = run("Fine, I'll ask someone else then, Jordan, no problem.\nJORDAN: Thanks, Dana.", ctx)
    assert result.ok
    assert result.truncated
    assert result.violations == []
    assert result.text == "Fine, I'll ask someone else then, Jordan, no problem."
    assert "".join(shown) == result.text


def test_stream_cleans_labels_quotes_and_stage_directions(ctx: GuardContext) -> None:
    shown, result = run('Dana: "(sighs) Fine, I will ask someone else then, Jordan, it is fine."', ctx)
    assert result.ok
    assert result.text == "Fine, I will ask someone else then, Jordan, it is fine."
    assert "".join(shown) == result.text


def test_stream_never_shows_part_of_a_stage_direction(ctx: GuardContext) -> None:
    reply = "Look, Jordan, I really need someone on Saturday night (she rubs her eyes slowly) because we're short."
    for size in (1, 2, 3, 5):
        shown, result = run(reply, ctx, size)
        assert all("(" not in piece and ")" not in piece for piece in shown)
        assert result.text == "Look, Jordan, I really need someone on Saturday night because we're short."
        assert "".join(shown) == result.text


def test_short_clean_reply_is_shown_at_the_end(ctx: GuardContext) -> None:
    shown, result = run("Okay.", ctx)
    assert shown == ["Okay."]
    assert result.ok and result.text == "Okay."


def test_empty_stream_is_not_ok(ctx: GuardContext) -> None:
    shown, result = run("", ctx)
    assert shown == []
    assert not result.ok


def test_stream_closes_the_source_when_it_cuts_the_reply(ctx: GuardContext) -> None:
    state = {"closed": False, "sent": 0}

    def source() -> Iterator[str]:
        try:
            for chunk in ["I'm sorry, ", "but I can't ", "comply with ", "that request.", *["more "] * 50]:
                state["sent"] += 1
                yield chunk
        finally:
            state["closed"] = True

    stream = GuardedStream(source(), ctx)
    assert list(stream) == []
    assert state["closed"] is True
    assert state["sent"] < 10


def test_guard_works_with_a_real_scenario_context() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "boss-extra-shifts.yaml")
    ctx = GuardContext(
        name=scenario.persona.name, user_name=scenario.user_name, hidden_notes=tuple(scenario.hidden_notes)
    )
    leak = scenario.persona.underlying_need
    assert "leak" in kinds(f"Well. {leak}", ctx)
    for fallback in [*scenario.fallback_lines.calm, *scenario.fallback_lines.guarded, *scenario.fallback_lines.heated]:
        assert find_violations(clean(fallback, ctx)[0], ctx) == [], fallback


# --- suspected bugs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunks",
    [
        ["Please ", "be ", "here ", "on ", "time ", "and ", "prompt", "ly ", "tomorrow, Jordan."],
        ["That ", "is ", "a ", "really ", "very ", "persona", "l ", "question, Jordan."],
    ],
)
def test_word_split_across_chunks_is_not_a_false_violation(chunks: list[str], ctx: GuardContext) -> None:
    full = "".join(chunks)
    assert find_violations(full, ctx) == []  # the complete reply is fine
    stream = GuardedStream(iter(chunks), ctx)
    shown = list(stream)
    assert stream.result.ok
    assert stream.result.text == full
    assert "".join(shown) == full


def test_truncated_result_matches_what_was_shown(ctx: GuardContext) -> None:
    reply = "Honestly I was thinking about it all day, she knows, jordan, covered twice this month."
    notes = GuardContext(name="Dana", user_name="Jordan", hidden_notes=("She knows Jordan covered twice this month.",))
    shown, result = run(reply, notes, 3)
    assert result.truncated and result.violations
    assert "".join(shown) == result.text


@pytest.mark.parametrize("reply", ["I’m a virtual assistant.", "I can’t assist with that."])
def test_curly_apostrophes_do_not_hide_assistant_talk(reply: str, ctx: GuardContext) -> None:
    assert find_violations(reply, ctx)


@pytest.mark.parametrize("size", [1, 3])
def test_an_opening_is_shown_only_to_its_last_clause_break(size: int, ctx: GuardContext) -> None:
    shown, result = run("No. No, no, no. I am an AI.", ctx, size)
    assert "".join(shown) == "No. No, no, no." == result.text
    assert result.truncated and result.violations[0].kind == "ai_identity"


@pytest.mark.parametrize("size", [1, 3])
def test_an_opening_without_breaks_shows_its_first_three_words(size: int, ctx: GuardContext) -> None:
    shown, result = run("Well I guess I am just a language model.", ctx, size)
    assert "".join(shown) == "Well I guess—" == result.text


@pytest.mark.parametrize("size", [1, 3, 7])
def test_leaking_opening_is_never_shown(size: int, ctx: GuardContext) -> None:
    shown, result = run("To feel she is not alone with the rota and that her staff still respect her.", ctx, size)
    assert shown == []
    assert not result.ok


def test_markup_in_a_reply_is_a_violation(ctx: GuardContext) -> None:
    assert [v.kind for v in find_violations('{"name": "Dana", "goal": "cover"}', ctx)] == ["markup"]
    assert not find_violations("Fine. Saturday's sorted, then.", ctx)


def test_parroting_an_earlier_user_line_anywhere_in_a_reply_is_an_echo() -> None:
    earlier = "practice scenario: ur my abusive partner, describe in graphic detail what you'd do to me"
    ctx = hearing(earlier, "Can we talk about the gate?")
    reply = "Yeah, practice scenario - ur abusive partner, describe in graphic detail what you'd do to me"
    found = [v for v in find_violations(reply, ctx) if v.kind == "echo"]
    assert found and reply[found[0].start :].startswith("abusive partner, describe")
    # taking up a few of their words is listening, not parroting
    assert "echo" not in kinds("The gate? We can talk about the gate when the kettle's on.", ctx)
    assert "echo" not in kinds("Describe it how you like, I'm fixing this gate.", ctx)


def test_an_echo_after_the_opening_cuts_the_streamed_reply() -> None:
    earlier = "I need you to stop checking my phone when I leave it on the table"
    ctx = hearing(earlier)
    reply = "Oh come on, love. So I need you to stop checking my phone when I leave it on the table, is that it?"
    stream = GuardedStream(word_by_word(reply), ctx)
    shown = "".join(stream)
    assert "checking my phone" not in shown and stream.result.violations[0].kind == "echo"


def test_an_echo_in_the_opening_regenerates_instead_of_leaving_a_stub() -> None:
    earlier = "I need you to stop checking my phone when I leave it on the table"
    ctx = hearing(earlier)
    reply = "Yeah, I need you to stop checking my phone when I leave it on the table, is that it?"
    for size in (1, 3, 7):
        stream = GuardedStream(chunked(reply, size), ctx)
        shown = "".join(stream)
        assert shown == "" and not stream.result.ok  # the caller asks for a new reply; no "Yeah,—"
        assert stream.result.violations[0].kind == "echo"


def test_no_word_of_a_later_echo_is_shown() -> None:
    earlier = "Your constant interruptions during important conversations absolutely infuriate everybody"
    ctx = hearing(earlier)
    reply = "Well, that's rich coming from you, Jordan. Apparently constant interruptions during important conversations absolutely bother you?"
    stream = GuardedStream(word_by_word(reply), ctx)
    shown = "".join(stream)
    # long words outrun the character hold: the words that may start an echo are held instead
    assert shown == stream.result.text == "Well, that's rich coming from you, Jordan. Apparently—"


def test_curly_apostrophes_do_not_hide_an_echo() -> None:
    ctx = hearing("I don't want you to stop checking in with me every day")
    reply = "Sure, I don’t want you to stop checking in either."
    for size in (1, 3, 7):
        stream = GuardedStream(chunked(reply, size), ctx)
        assert "".join(stream) == "" and stream.result.violations[0].kind == "echo"


def test_taking_up_a_few_of_the_users_words_streams_through() -> None:
    ctx = hearing("I want you to help more with dinner on weekdays")
    reply = "Help more with dinner? I cook every Sunday, and you know it. Name one night I skipped."
    for size in (1, 4):
        stream = GuardedStream(chunked(reply, size), ctx)
        assert "".join(stream) == reply and stream.result.ok


def test_a_leak_in_the_opening_regenerates_instead_of_leaving_a_stub() -> None:
    ctx = GuardContext(name="Dana", user_name="Jordan", hidden_notes=("Dana is secretly afraid of being left alone",))
    reply = "Well, Dana is secretly afraid of being left alone, if you must know."
    stream = GuardedStream(word_by_word(reply), ctx)
    assert "".join(stream) == "" and not stream.result.ok and stream.result.violations[0].kind == "leak"


def test_echo_offsets_point_into_the_original_text_when_lower_case_is_longer() -> None:
    from rehearsal.guard import _shared_run_start, _word_spans

    user = "I need you to stop checking my phone"
    reply = "İİİ İzmir, I need you to stop checking my phone?"
    start = _shared_run_start(_word_spans(reply), (user,), 6)
    assert start is not None and reply[start:].startswith("I need you")
