"""Tests for rehearsal.prompts and the real prompt files in prompts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearsal.errors import PromptError, RehearsalError
from rehearsal.prompts import PromptTemplate, load_prompt, parse_prompt
from rehearsal.scenario import Scenario
from rehearsal.scenarios import load_scenario
from rehearsal.scene import SceneLine, build_messages, persona_values
from rehearsal.session import open_prompt
from rehearsal.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PROMPTS_DIR = ROOT / "prompts"
PROMPT_FILES = sorted(PROMPTS_DIR.glob("counterpart.*.md"))  # the hint prompt is tested in test_hints.py
SCENARIO_FILES = sorted((ROOT / "scenarios").glob("*.yaml"))

GOOD = """---
id: test.v1
framing: role
description: a test prompt
---
## system
You are {name}, talking with {user_name}.

## scene
{scene}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


# --- parse_prompt ---------------------------------------------------------------------------------


def test_parse_prompt_reads_front_matter_and_sections() -> None:
    prompt = parse_prompt(GOOD, "test.md")
    assert prompt == PromptTemplate(
        id="test.v1",
        framing="role",
        sections={"system": "You are {name}, talking with {user_name}.", "scene": "{scene}"},
    )


def test_text_before_the_first_section_is_ignored() -> None:
    prompt = parse_prompt(GOOD.replace("## system", "Some notes for editors.\n\n## system"), "test.md")
    assert set(prompt.sections) == {"system", "scene"}
    assert "editors" not in prompt.section("system")


def test_a_horizontal_rule_in_the_body_is_kept() -> None:
    prompt = parse_prompt(GOOD.replace("{scene}", "{scene}\n---\nThe end."), "test.md")
    assert prompt.section("scene") == "{scene}\n---\nThe end."


def test_parse_prompt_stringifies_ids() -> None:
    prompt = parse_prompt("---\nid: 7\nframing: screenplay\n---\n## system\nhi\n", "test.md")
    assert prompt.id == "7"
    assert prompt.framing == "screenplay"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("## system\nhi\n", "front-matter"),
        ("\n---\nid: x\nframing: role\n---\n## system\nhi\n", "front-matter"),
        ("---\nid: x\nframing: role\n## system\nhi\n", "bad front matter"),
        ("---\nid: [x\nframing: role\n---\n## system\nhi\n", "bad front matter"),
        ("---\nframing: role\n---\n## system\nhi\n", "'id' and 'framing'"),
        ("---\nid: x\n---\n## system\nhi\n", "'id' and 'framing'"),
        ("---\n- id\n- framing\n---\n## system\nhi\n", "'id' and 'framing'"),
        ("------\n## system\nhi\n", "'id' and 'framing'"),
    ],
)
def test_parse_prompt_rejects_bad_files(text: str, message: str) -> None:
    with pytest.raises(PromptError, match=message) as info:
        parse_prompt(text, "broken.md")
    assert "broken.md" in str(info.value)


# --- PromptTemplate -----------------------------------------------------------------------------------


def test_fields_lists_placeholders() -> None:
    prompt = parse_prompt(GOOD, "test.md")
    assert prompt.fields("system") == {"name", "user_name"}
    assert prompt.fields("scene") == {"scene"}


def test_missing_section_is_a_prompt_error() -> None:
    prompt = parse_prompt(GOOD, "test.md")
    with pytest.raises(PromptError, match="no '## feedback' section"):
        prompt.section("feedback")
    with pytest.raises(PromptError):
        prompt.render("feedback", {})


def test_render_fills_placeholders_and_strips() -> None:
    prompt = parse_prompt(GOOD, "test.md")
    assert prompt.render("system", {"name": "Dana", "user_name": "Jordan"}) == "You are Dana, talking with Jordan."


def test_render_ignores_extra_values() -> None:
    prompt = parse_prompt(GOOD, "test.md")
    rendered = prompt.render("system", {"name": "Dana", "user_name": "Jordan", "unused": "x"})
    assert rendered == "You are Dana, talking with Jordan."


def test_render_names_every_missing_value() -> None:
    prompt = parse_prompt(GOOD, "test.md")
    with pytest.raises(PromptError, match="needs: name, user_name"):
        prompt.render("system", {})
    with pytest.raises(PromptError, match="needs: user_name"):
        prompt.render("system", {"name": "Dana"})


def test_render_never_parses_values_as_templates() -> None:
    prompt = parse_prompt(GOOD, "test.md")
    rendered = prompt.render("scene", {"scene": "JORDAN: {name} {0} {user_name!r} {{x}} }{"})
    assert rendered == "JORDAN: {name} {0} {user_name!r} {{x}} }{"


def test_escaped_braces_in_a_prompt_render_as_literal_braces() -> None:
    prompt = parse_prompt(GOOD.replace("{scene}", "{{literal}} {scene}"), "test.md")
    assert prompt.fields("scene") == {"scene"}
    assert prompt.render("scene", {"scene": "x"}) == "{literal} x"


# --- load_prompt -------------------------------------------------------------------------------------


def test_load_prompt_from_a_folder(tmp_path: Path) -> None:
    write(tmp_path, "test.v1", GOOD)
    prompt = load_prompt(tmp_path, "test.v1")
    assert prompt.id == "test.v1"
    assert prompt.framing == "role"


def test_load_prompt_rejects_an_id_that_differs_from_the_file_name(tmp_path: Path) -> None:
    write(tmp_path, "test.v2", GOOD)
    with pytest.raises(PromptError, match="does not match the file name"):
        load_prompt(tmp_path, "test.v2")


def test_load_prompt_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="cannot read prompt") as info:
        load_prompt(tmp_path, "nowhere.v1")
    assert "nowhere.v1.md" in str(info.value)


def test_load_prompt_errors_are_rehearsal_errors(tmp_path: Path) -> None:
    write(tmp_path, "test.v1", "no front matter")
    with pytest.raises(RehearsalError):
        load_prompt(tmp_path, "test.v1")


# --- the real prompt files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return [load_scenario(path) for path in SCENARIO_FILES]


def test_there_are_prompt_files_and_scenarios() -> None:
    assert PROMPT_FILES
    assert SCENARIO_FILES
    assert {"counterpart.screenplay.v1", "counterpart.role.v1"} <= {path.stem for path in PROMPT_FILES}


@pytest.mark.parametrize("path", PROMPT_FILES, ids=lambda p: p.stem)
def test_every_prompt_file_loads_with_its_file_name_as_id(path: Path) -> None:
    prompt = load_prompt(PROMPTS_DIR, path.stem)
    assert prompt.id == path.stem
    assert prompt.framing in {"screenplay", "role", "continuation"}
    if prompt.framing == "continuation":
        assert {"system", "request"} <= set(prompt.sections)
        assert prompt.fields("request") == {"name"}
    else:
        assert {"system", "scene"} <= set(prompt.sections)
        assert prompt.fields("scene") == {"scene"}


@pytest.mark.parametrize("path", PROMPT_FILES, ids=lambda p: p.stem)
def test_system_section_renders_for_every_scenario(path: Path, scenarios: list[Scenario]) -> None:
    prompt = load_prompt(PROMPTS_DIR, path.stem)
    needed = prompt.fields("system")
    for scenario in scenarios:
        values = persona_values(scenario)
        assert needed <= values.keys(), scenario.id
        system = prompt.render("system", values)
        assert scenario.persona.name in system, scenario.id
        assert scenario.user_name in system, scenario.id
        for field in needed:
            assert "{" + field + "}" not in system, (scenario.id, field)


@pytest.mark.parametrize("path", PROMPT_FILES, ids=lambda p: p.stem)
def test_every_prompt_builds_messages_for_every_scenario(path: Path, scenarios: list[Scenario]) -> None:
    prompt = load_prompt(PROMPTS_DIR, path.stem)
    for scenario in scenarios:
        lines = [SceneLine("counterpart", scenario.opening_line), SceneLine("user", "I hear you.", "[a note]")]
        messages = build_messages(prompt, scenario, lines)
        assert messages[0].role == "system"
        assert scenario.opening_line in "\n".join(m.content for m in messages), scenario.id


# --- suspected bugs ------------------------------------------------------------------------------------


def test_malformed_placeholder_is_a_prompt_error() -> None:
    prompt = parse_prompt(GOOD.replace("You are {name}", "You are {name"), "test.md")
    with pytest.raises(PromptError):
        prompt.render("system", {"name": "Dana", "user_name": "Jordan"})


def test_non_utf8_prompt_file_is_a_prompt_error(tmp_path: Path) -> None:
    (tmp_path / "test.v1.md").write_bytes(GOOD.encode("utf-8") + "café".encode("latin-1"))
    with pytest.raises(PromptError):
        load_prompt(tmp_path, "test.v1")


@pytest.mark.parametrize(
    ("model", "framing"),
    [
        ("local", "continuation"),
        ("local-small", "continuation"),
        ("openai:gpt-4o-mini", "screenplay"),
        ("fake", "screenplay"),
    ],
)
def test_default_prompt_follows_the_model(model: str, framing: str, tmp_path: Path) -> None:
    # the embedded server continues the script in the model's own turn; OpenAI's API cannot
    settings = Settings.from_env(model=model, data_dir=tmp_path)
    assert open_prompt(settings).framing == framing
    assert open_prompt(settings, "counterpart.role.v1").framing == "role"
