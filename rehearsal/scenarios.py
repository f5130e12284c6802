"""Loading scenario files: YAML -> `Scenario`, with errors that name file, field and line.

A broken file never stops the others from loading: `load_library` returns the good scenarios and
the broken files with their problems side by side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rehearsal.errors import Problem, ScenarioError
from rehearsal.scenario import Scenario


@dataclass(frozen=True)
class BrokenScenario:
    """A scenario file that could not be loaded, kept so the app can show why."""

    path: Path
    error: ScenarioError


@dataclass
class Library:
    """Every scenario found, by id, plus the files that failed to load."""

    scenarios: dict[str, Scenario] = field(default_factory=dict)
    broken: list[BrokenScenario] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)

    def get(self, scenario_id: str) -> Scenario:
        """Return the scenario with this id, or raise a ScenarioError listing the known ids."""
        if scenario_id in self.scenarios:
            return self.scenarios[scenario_id]
        for broken in self.broken:
            if broken.path.stem == scenario_id:
                raise broken.error
        known = ", ".join(sorted(self.scenarios)) or "none"
        raise ScenarioError(scenario_id, [Problem("id", f"no such scenario (known: {known})")])


def _line_of(node: yaml.Node | None, path: tuple[Any, ...]) -> int | None:
    """Follow a pydantic error location through the YAML node tree; return a 1-based line."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == key), None)
            if child is None:  # an extra key: point at the key itself
                child = next((k for k, _ in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        if child is None:
            return line  # missing field: point at the mapping that should hold it
        node, line = child, child.start_mark.line + 1
    return line


def _problems_from_validation(err: ValidationError, root: yaml.Node | None) -> list[Problem]:
    problems = []
    for item in err.errors():
        loc = tuple(item["loc"])
        field_path = ".".join(str(part) for part in loc) or "(top level)"
        reason = item["msg"].removeprefix("Value error, ")
        problems.append(Problem(field_path, reason, _line_of(root, loc)))
    return problems


# libyaml's parser when PyYAML was built with it (its wheels are), else the pure-Python one:
# the library's sixteen files parse in a few milliseconds instead of a few hundred, and the app's
# first page waits for them
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose_and_load(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, from one parse."""
    loader = _SAFE_LOADER(text)
    try:
        root = loader.get_single_node()
        return root, None if root is None else loader.construct_document(root)
    finally:
        loader.dispose()


def parse_scenario(text: str, file: str, expected_id: str | None = None) -> Scenario:
    """Parse YAML text into a Scenario; raise ScenarioError naming every problem found."""
    try:
        root, data = _compose_and_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = f"YAML syntax error: {exc.problem or exc.context}"
        raise ScenarioError(file, [Problem("(yaml)", reason, line)]) from None
    if not isinstance(data, dict):
        raise ScenarioError(file, [Problem("(top level)", "expected a mapping of fields", 1)])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(file, _problems_from_validation(exc, root)) from None
    if expected_id is not None and scenario.id != expected_id:
        line = _line_of(root, ("id",))
        reason = f"id '{scenario.id}' must match the file name '{expected_id}.yaml'"
        raise ScenarioError(file, [Problem("id", reason, line)])
    return scenario


def load_scenario(path: Path) -> Scenario:
    """Load one scenario file; its id must equal the file name without `.yaml`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), [Problem("(file)", f"cannot read: {exc}")]) from None
    return parse_scenario(text, str(path), expected_id=path.stem)


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders to their `*.yaml`/`*.yml` files (sorted); keep files as given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        else:
            files.append(path)
    return files


def load_library(paths: Iterable[Path]) -> Library:
    """Load every scenario under the given files/folders; later folders override earlier ids."""
    library = Library()
    for path in scenario_files(paths):
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            library.broken.append(BrokenScenario(path, exc))
            continue
        library.scenarios[scenario.id] = scenario
        library.paths[scenario.id] = path
    return library


SCENARIOS_README = Path(__file__).resolve().parent.parent / "scenarios" / "README.md"


def scenario_template(readme: Path = SCENARIOS_README) -> str:
    """The commented template from scenarios/README.md (its first YAML block)."""
    text = readme.read_text(encoding="utf-8")
    start = text.index("```yaml\n") + len("```yaml\n")
    return text[start : text.index("```", start)]
