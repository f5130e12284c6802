"""Every scenario file loads, renders its prompts, and the library tolerates broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearsal.errors import ScenarioError
from rehearsal.prompts import load_prompt
from rehearsal.scenario import ProblemArea
from rehearsal.scenarios import load_library, load_scenario, parse_scenario
from rehearsal.scene import SceneLine, build_messages
from tests.conftest import ROOT, SCENARIOS

FILES = sorted(SCENARIOS.glob("*.yaml"))
REFERENCE = (SCENARIOS / "boss-extra-shifts.yaml").read_text()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_loads_and_renders_in_every_framing(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.id == path.stem
    lines = [SceneLine("counterpart", scenario.opening_line), SceneLine("user", "Hello.", "[note]")]
    for prompt_id in ("counterpart.screenplay.v1", "counterpart.role.v1", "counterpart.continuation.v1"):
        messages = build_messages(load_prompt(ROOT / "prompts", prompt_id), scenario, lines)
        text = "\n".join(m.content for m in messages)
        assert scenario.persona.name in text
        assert "{" not in text, "an unfilled placeholder reached the model"


def test_library_covers_the_problem_areas_and_boundary_settings() -> None:
    library = load_library([SCENARIOS])
    assert not library.broken
    assert len(library.scenarios) >= 14
    areas = {s.problem_area for s in library.scenarios.values()}
    assert areas == set(ProblemArea)
    boundary_settings = {s.setting for s in library.scenarios.values() if s.boundary_setting}
    assert {"work", "family", "friend", "partner"} <= boundary_settings


def test_fallback_lines_are_distinct_per_band() -> None:
    for scenario in load_library([SCENARIOS]).scenarios.values():
        bands = scenario.fallback_lines
        for lines in (bands.calm, bands.guarded, bands.heated):
            assert len(set(lines)) == len(lines) >= 2


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "broken.yaml", expected_id="boss-extra-shifts")
    return [p.render("broken.yaml") for p in info.value.problems]


def test_missing_field_names_the_field() -> None:
    text = "\n".join(line for line in REFERENCE.splitlines() if not line.startswith("title:"))
    assert _problems(text) == ["broken.yaml:1: title: Field required"]


def test_wrong_type_names_nested_field_and_line() -> None:
    text = REFERENCE.replace("  age: 46", "  age: forty-six")
    line = 1 + REFERENCE.splitlines().index("  age: 46")
    [problem] = _problems(text)
    assert problem.startswith(f"broken.yaml:{line}: persona.age: ")


def test_bad_indentation_is_a_yaml_error_with_line() -> None:
    text = REFERENCE.replace("\n  name: Dana", "\n    name: Dana")
    [problem] = _problems(text)
    assert "(yaml): YAML syntax error" in problem
    assert problem.startswith("broken.yaml:")


def test_unknown_key_and_stage_rules_are_reported() -> None:
    text = REFERENCE.replace("dispute_stage: renegotiation", "dispute_stage: renegotiation\nmoood: angry")
    assert any("moood: Extra inputs are not permitted" in p for p in _problems(text))
    no_stage = REFERENCE.replace("dispute_stage: renegotiation\n", "")
    assert any("dispute_stage is required" in p for p in _problems(no_stage))


def test_id_must_match_file_name(tmp_path: Path) -> None:
    path = tmp_path / "other-name.yaml"
    path.write_text(REFERENCE)
    with pytest.raises(ScenarioError, match="must match the file name"):
        load_scenario(path)


def test_broken_file_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "boss-extra-shifts.yaml").write_text(REFERENCE)
    (tmp_path / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n")
    library = load_library([tmp_path])
    assert list(library.scenarios) == ["boss-extra-shifts"]
    assert [b.path.name for b in library.broken] == ["broken.yaml"]
    with pytest.raises(ScenarioError, match="YAML syntax error"):
        library.get("broken")


BROKEN_TEXTS = [
    REFERENCE.replace("  age: 46", "  age: forty-six"),
    REFERENCE.replace("\n  name: Dana", "\n    name: Dana"),
    REFERENCE.replace("dispute_stage: renegotiation", "dispute_stage: renegotiation\nmoood: angry"),
    "id: broken\ntitle: [unclosed\n",
    "- a list\n- not a mapping\n",
    "",
]


def test_libyaml_and_the_python_parser_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library is read with libyaml when PyYAML has it; the pure-Python parser must give the same
    scenarios and point at the same fields and lines, since either may be the one installed."""
    import yaml

    from rehearsal import scenarios

    assert scenarios._SAFE_LOADER is yaml.CSafeLoader  # PyYAML's wheels carry libyaml

    def outcomes() -> list[object]:
        found: list[object] = [load_scenario(path).model_dump() for path in FILES]
        for text in BROKEN_TEXTS:
            with pytest.raises(ScenarioError) as info:
                parse_scenario(text, "broken.yaml", expected_id="boss-extra-shifts")
            # libyaml words its syntax errors its own way; the line must still be the same
            found.append([(p.field, p.line) if p.field == "(yaml)" else p.render("x") for p in info.value.problems])
        return found

    fast = outcomes()
    monkeypatch.setattr(scenarios, "_SAFE_LOADER", yaml.SafeLoader)
    assert outcomes() == fast


@pytest.fixture(scope="module")
def tagger_signal():  # type: ignore[no-untyped-def]
    from rehearsal.mood import Reading, reading_from_labels
    from rehearsal.tagger import load_tagger

    tagger = load_tagger()

    class TaggerSignal:
        def read(self, text: str, context: str = "") -> Reading:
            return reading_from_labels(tagger.tag(text, context).labels)

    return TaggerSignal()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_mood_softens_when_listened_to_and_hardens_when_blamed(path: Path, tagger_signal) -> None:  # type: ignore[no-untyped-def]
    from rehearsal.counterpart import Counterpart
    from rehearsal.models.fakes import QueuedModel

    scenario = load_scenario(path)
    prompt = load_prompt(ROOT / "prompts", "counterpart.screenplay.v1")
    listened = Counterpart(scenario, QueuedModel(["Hm."]), prompt, mood_signal=tagger_signal)
    start = listened.mood.tension
    "".join(listened.respond("It sounds like this has been really hard for you, and that makes sense."))
    blamed = Counterpart(scenario, QueuedModel(["Hm."]), prompt, mood_signal=tagger_signal)
    "".join(blamed.respond("You always do this. It's your fault, as usual."))
    assert listened.mood.tension < start < blamed.mood.tension
