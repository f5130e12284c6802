"""The scenario schema: what a `scenarios/*.yaml` file may contain.

Every field is documented here; `scenarios/README.md` shows a commented template.
Unknown keys are rejected (`extra="forbid"`) so a typo never passes silently.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


class ProblemArea(StrEnum):
    """IPT's four problem areas (Weissman, Markowitz & Klerman)."""

    role_dispute = "role_dispute"
    role_transition = "role_transition"
    grief = "grief"
    interpersonal_deficits = "interpersonal_deficits"


class DisputeStage(StrEnum):
    """Stage of a role dispute in IPT: still talking, stuck, or ending the relationship."""

    renegotiation = "renegotiation"
    impasse = "impasse"
    dissolution = "dissolution"


class Skill(StrEnum):
    """Skills a scenario can put in focus; the ids match the feedback taxonomy."""

    reflection = "reflection"
    open_question = "open_question"
    validation = "validation"
    i_statement = "i_statement"
    request = "request"
    boundary = "boundary"


class Mood(StrEnum):
    """Coarse bands of the counterpart's tension (0-10), used to pick fallback lines."""

    calm = "calm"  # tension 0-3
    guarded = "guarded"  # tension 4-6
    heated = "heated"  # tension 7-10


class Strict(BaseModel):
    """Base for every schema model: unknown keys are errors, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Persona(Strict):
    """The person the model plays. Fields marked hidden never appear in replies."""

    name: Text = Field(description="First name the counterpart is called by, e.g. 'Sam'.")
    relationship: Text = Field(description="Who they are to the user, e.g. 'your partner of six years'.")
    age: int | None = Field(default=None, ge=8, le=110, description="Age, if it matters.")
    personality: Text = Field(description="Temperament and habits in a sentence or two.")
    speaking_style: Text = Field(description="How they talk: length, vocabulary, tics.")
    surface_want: Text = Field(description="What they say they want in this conversation.")
    underlying_need: Text = Field(description="Hidden: the need under the surface want.")
    escalates_when: list[Text] = Field(min_length=1, description="Hidden: what makes them harder.")
    softens_when: list[Text] = Field(min_length=1, description="Hidden: what makes them open up.")
    backstory: Text | None = Field(default=None, description="Hidden: facts they know and may mention.")


class Difficulty(Strict):
    """One difficulty level: how tense the counterpart starts and how easily they move."""

    description: Text = Field(description="What changes at this level, shown to the user.")
    starting_tension: float = Field(ge=0, le=10, description="Tension (0 calm .. 10 furious) at the start.")
    floor: float = Field(default=0, ge=0, le=10, description="Lowest tension this level allows.")
    ceiling: float = Field(default=10, ge=0, le=10, description="Highest tension this level allows.")
    responsiveness: float = Field(
        default=1.0, gt=0, le=2, description="Multiplier on how far one turn moves the tension."
    )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Difficulty:
        if not self.floor <= self.starting_tension <= self.ceiling:
            raise ValueError("need floor <= starting_tension <= ceiling")
        return self


class Difficulties(Strict):
    """The three levels a user can pick from; `medium` is the default."""

    easy: Difficulty
    medium: Difficulty
    hard: Difficulty


class FallbackLines(Strict):
    """In-character lines used when the model fails to stay in role, per mood band."""

    calm: list[Text] = Field(min_length=2)
    guarded: list[Text] = Field(min_length=2)
    heated: list[Text] = Field(min_length=2)


class Scenario(Strict):
    """One rehearsal situation. The file name must be `<id>.yaml`."""

    id: Slug = Field(description="Stable id, lowercase words joined by '-'; equals the file name.")
    title: Text = Field(description="Short title shown in the library.")
    problem_area: ProblemArea = Field(description="The IPT problem area the situation belongs to.")
    dispute_stage: DisputeStage | None = Field(
        default=None, description="Required for role_dispute: renegotiation, impasse or dissolution."
    )
    boundary_setting: bool = Field(default=False, description="True when the user's task is to say no or set a limit.")
    setting: Literal["work", "family", "partner", "friend", "community", "health"] = Field(
        description="Which part of life the relationship belongs to (used for filters)."
    )
    situation: Text = Field(description="The background the user reads before starting.")
    skills_in_focus: list[Skill] = Field(min_length=1, description="Skills this scenario trains.")
    user_role: Text = Field(description="Who the user is in the scene, in the second person.")
    user_name: Text = Field(default="You", description="Name the counterpart calls the user by.")
    user_goal: Text = Field(description="What the user wants to achieve, shown before starting.")
    persona: Persona
    opening_line: Text = Field(description="The counterpart's first line; the scene starts with it.")
    difficulty: Difficulties
    fallback_lines: FallbackLines
    learning_objectives: list[Text] = Field(min_length=1, description="What the user should practise.")
    tags: list[Text] = Field(default_factory=list, description="Free labels for filtering.")

    @model_validator(mode="after")
    def _stage_matches_area(self) -> Scenario:
        if self.problem_area is ProblemArea.role_dispute and self.dispute_stage is None:
            raise ValueError("dispute_stage is required when problem_area is role_dispute")
        if self.problem_area is not ProblemArea.role_dispute and self.dispute_stage is not None:
            raise ValueError("dispute_stage only applies to role_dispute")
        return self

    @property
    def hidden_notes(self) -> list[str]:
        """Persona text that must never be spoken verbatim (the guard checks replies against it).

        The backstory is not among them: it holds facts the counterpart may well mention; nor is the
        speaking style, since a persona's catchphrase is meant to be said.
        """
        p = self.persona
        return [p.personality, p.underlying_need, *p.escalates_when, *p.softens_when]
