"""The three ways to use a scenario, each as a scenario the counterpart engine can play.

- client: the user rehearses their own conversation with the counterpart (the scenario as written);
- trainee: the user plays an IPT therapist and the model plays a client who brings the scenario's
  problem (the person in the user's role), to practise clarification, communication analysis,
  encouraging affect, reflections and open questions;
- swap: the user plays the counterpart and the model plays the user's role, to feel the other side.

Each mode derives a full `Scenario` (persona, opening line, fallback lines, goals), so the engine,
guard, mood and report work unchanged.
"""

from __future__ import annotations

from enum import StrEnum

from rehearsal.scenario import FallbackLines, Persona, ProblemArea, Scenario, Skill


class Mode(StrEnum):
    """Who the user plays."""

    client = "client"
    trainee = "trainee"
    swap = "swap"


MODE_TITLES = {
    Mode.client: "Rehearse my conversation",
    Mode.trainee: "Trainee: I am the therapist",
    Mode.swap: "Swap roles: I play the other person",
}
MODE_HELP = {
    Mode.client: "You speak as yourself; the counterpart reacts to how you say things.",
    Mode.trainee: (
        "You play an IPT therapist. A client brings this situation to the session: help them describe "
        "it, ask what was said, and invite the feelings underneath."
    ),
    Mode.swap: "You play the other person; the model speaks as the one with the goal. Notice what lands with you.",
}

# When the scenario calls the user "You", a derived persona still needs a name.
_STAND_IN_NAME = "Alex"

_CLIENT_OPENINGS = {
    ProblemArea.role_dispute: "It's {other}. Things between us keep going wrong and I don't know what to do anymore.",
    ProblemArea.role_transition: "Everything's changing at once and I feel like I've lost my footing. It's mostly about {other}.",
    ProblemArea.grief: "I thought I'd be coping better by now. It keeps coming back, especially with {other}.",
    ProblemArea.interpersonal_deficits: "I find people hard. There's this thing with {other} and I keep getting it wrong.",
}


def _person_name(scenario: Scenario) -> str:
    return scenario.user_name if scenario.user_name.lower() != "you" else _STAND_IN_NAME


def _third_person(role: str) -> str:
    """'You are a care worker who…' -> 'a care worker who…' (as a description of someone else)."""
    for prefix in ("You are ", "You're ", "you are "):
        if role.startswith(prefix):
            return role[len(prefix) :].rstrip(".")
    return role.rstrip(".")


def for_mode(scenario: Scenario, mode: Mode | str) -> Scenario:
    """The scenario the engine plays for this mode (client mode returns it unchanged)."""
    mode = Mode(mode)
    if mode is Mode.client:
        return scenario
    return _trainee(scenario) if mode is Mode.trainee else _swap(scenario)


def _trainee(scenario: Scenario) -> Scenario:
    other = scenario.persona.name
    client = _person_name(scenario)
    persona = Persona(
        name=client,
        relationship=f"a client in their third session of interpersonal therapy, {_third_person(scenario.user_role)}",
        personality=(
            f"Thoughtful but worn down by what is happening with {other}. Tends to describe events in "
            "general terms until asked for detail, and moves quickly past feelings."
        ),
        speaking_style="Hesitant, ordinary words, trails off; gives more detail when asked a concrete question.",
        surface_want=f"To be told what to do about {other}.",
        underlying_need=f"To understand their own part and find words for: {scenario.user_goal}",
        escalates_when=[
            "the therapist lectures or gives advice too early",
            "the therapist judges or blames them",
            "the therapist fires closed questions one after another",
        ],
        softens_when=[
            "the therapist reflects what they said in their own words",
            f"the therapist asks exactly what was said between them and {other}",
            "the therapist invites them to say how they felt",
        ],
        backstory=f"{scenario.situation} {other} is {scenario.persona.relationship}.",
    )
    return scenario.model_copy(
        update={
            "title": f"Therapist practice: {scenario.title}",
            "situation": (
                f"You are an IPT therapist. Your client, {client}, is {_third_person(scenario.user_role)}. "
                f"This is what is going on for them: {scenario.situation}"
            ),
            "skills_in_focus": [Skill.open_question, Skill.reflection, Skill.validation],
            "user_role": f"You are {client}'s therapist.",
            "user_name": "Therapist",
            "user_goal": (
                f"Help {client} describe one recent conversation with {other} in detail (communication "
                "analysis), clarify what they want, and invite the feelings underneath."
            ),
            "persona": persona,
            "opening_line": _CLIENT_OPENINGS[scenario.problem_area].format(other=other),
            "fallback_lines": FallbackLines(
                calm=[
                    "Yeah. I think that's it, actually. I hadn't put it like that before.",
                    f"It helps to say it out loud. I think I've been avoiding {other} a bit.",
                ],
                guarded=[
                    "I don't know. It's hard to explain.",
                    "Maybe. I'm not sure what you want me to say.",
                ],
                heated=[
                    "I came here for help, not to be told it's my fault.",
                    "You're not really listening to what I'm saying.",
                ],
            ),
            "learning_objectives": [
                "Ask what exactly was said, and what was said next (communication analysis).",
                "Clarify: check you understood before moving on.",
                "Invite the feeling: ask how it felt, and stay with the answer.",
            ],
        }
    )


def _swap(scenario: Scenario) -> Scenario:
    person = _person_name(scenario)
    other = scenario.persona
    persona = Persona(
        name=person,
        relationship=_third_person(scenario.user_role),
        personality="Wants to keep the relationship with the other person, and is nervous about this talk.",
        speaking_style="Plain and calm; uses 'I' sentences; repeats their point when brushed off.",
        surface_want=scenario.user_goal,
        underlying_need=f"To be taken seriously by {other.name} without a fight.",
        escalates_when=["the other person brushes them off", "the other person attacks them personally"],
        softens_when=["the other person listens and says it back", "the other person offers something concrete"],
        backstory=scenario.situation,
    )
    return scenario.model_copy(
        update={
            "title": f"Swap roles: {scenario.title}",
            "situation": (
                f"This time you play {other.name}, {other.relationship}. {other.surface_want} "
                f"{person} has something to say to you. The original situation, from their side: {scenario.situation}"
            ),
            "user_role": f"You are {other.name}.",
            "user_name": other.name,
            "user_goal": f"Notice what {person} says that makes you want to listen, and what makes you dig in.",
            "persona": persona,
            "opening_line": f"{other.name}, have you got a minute? There's something I need to talk to you about.",
            "fallback_lines": FallbackLines(
                calm=["Thanks for hearing me out. That means a lot.", "Okay. I think we can work with that."],
                guarded=[
                    "I'm not trying to make this hard. I just need you to hear me.",
                    "Can I finish what I was saying?",
                ],
                heated=["Please don't talk to me like that.", "I'd rather stop here than say something I regret."],
            ),
        }
    )
