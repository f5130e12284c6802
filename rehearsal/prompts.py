"""Prompt files: `prompts/<name>.v<N>.md`, front matter plus `## section` blocks.

Templates use `{placeholder}` fields filled by `render`. Values are substituted, never parsed as
templates themselves, so braces in what a user types are harmless.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

from rehearsal.errors import PromptError

_SECTION = re.compile(r"^## (\w+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt: its id (recorded with each session), framing and sections."""

    id: str
    framing: str
    sections: dict[str, str]

    def fields(self, section: str) -> set[str]:
        """The placeholder names a section needs."""
        try:
            return {name for _, name, _, _ in string.Formatter().parse(self.section(section)) if name}
        except ValueError as exc:
            raise PromptError(f"prompt {self.id} section {section}: bad placeholder: {exc}") from None

    def section(self, name: str) -> str:
        """The raw text of one section; PromptError when it does not exist."""
        try:
            return self.sections[name]
        except KeyError:
            raise PromptError(f"prompt {self.id} has no '## {name}' section") from None

    def render(self, section: str, values: dict[str, str]) -> str:
        """Fill a section's placeholders; a missing value is a PromptError, not a silent blank."""
        missing = self.fields(section) - values.keys()
        if missing:
            raise PromptError(f"prompt {self.id} section {section} needs: {', '.join(sorted(missing))}")
        return self.section(section).format_map(values).strip()


def parse_prompt(text: str, source: str) -> PromptTemplate:
    """Parse a prompt file's text; `source` names it in errors."""
    if not text.startswith("---"):
        raise PromptError(f"{source}: prompt files start with a '---' front-matter block")
    try:
        _, front, body = text.split("---", 2)
        meta = yaml.safe_load(front) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise PromptError(f"{source}: bad front matter: {exc}") from None
    if not isinstance(meta, dict) or not {"id", "framing"} <= meta.keys():
        raise PromptError(f"{source}: front matter needs 'id' and 'framing'")
    parts = _SECTION.split(body)
    sections = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
    return PromptTemplate(id=str(meta["id"]), framing=str(meta["framing"]), sections=sections)


def load_prompt(prompts_dir: Path, prompt_id: str) -> PromptTemplate:
    """Load `prompts_dir/<prompt_id>.md`; its front-matter id must match the file name."""
    path = prompts_dir / f"{prompt_id}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PromptError(f"cannot read prompt {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PromptError(f"prompt {path} is not UTF-8 text") from None
    prompt = parse_prompt(text, str(path))
    if prompt.id != prompt_id:
        raise PromptError(f"{path}: front-matter id '{prompt.id}' does not match the file name")
    return prompt
