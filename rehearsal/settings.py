"""One `Settings` object, built at the edge (CLI, app) and passed down.

Keyword arguments win, then environment variables, then defaults. Nothing else in the package
reads `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from rehearsal.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENV_VARS = {
    "model": "REHEARSAL_MODEL",
    "base_url": "REHEARSAL_BASE_URL",
    "api_key": "OPENAI_API_KEY",
    "data_dir": "REHEARSAL_DATA_DIR",
    "timeout": "REHEARSAL_TIMEOUT",
    "threads": "REHEARSAL_THREADS",
    "chroma_url": "REHEARSAL_CHROMA_URL",
    "region": "REHEARSAL_REGION",
    "retention_days": "REHEARSAL_RETENTION_DAYS",
    "safety_review": "REHEARSAL_SAFETY_REVIEW",
}


SAFETY_REVIEW_MODES = ("auto", "on", "off")


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rehearsal"


@dataclass(frozen=True)
class Settings:
    """Everything configurable. See README "Settings" for the matching environment variables."""

    model: str = "local"
    base_url: str | None = None
    api_key: str | None = None
    data_dir: Path = field(default_factory=lambda: _default_data_dir(os.environ))
    timeout: float = 120.0
    threads: int = 2
    chroma_url: str | None = None
    retention_days: float | None = None  # delete sessions older than this many days (None: keep)
    region: str = "international"  # which crisis lines to show (rehearsal/data/crisis_resources.yaml)
    safety_review: str = "auto"  # the model's second opinion on crisis lines: auto (remote models), on, off
    scenario_dirs: tuple[Path, ...] = (PROJECT_ROOT / "scenarios",)
    prompts_dir: Path = PROJECT_ROOT / "prompts"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from keyword overrides (ignoring None), then `env`, then defaults."""
        env = os.environ if env is None else env
        values: dict[str, object] = {"data_dir": _default_data_dir(env)}
        for name, var in ENV_VARS.items():
            if env.get(var):
                values[name] = env[var]
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            values["timeout"] = float(str(values.get("timeout", 120.0)))
            values["threads"] = int(str(values.get("threads", 2)))
            if values.get("retention_days") is not None:
                values["retention_days"] = float(str(values["retention_days"]))
        except ValueError as exc:
            raise ConfigError(
                f"REHEARSAL_TIMEOUT / REHEARSAL_THREADS / REHEARSAL_RETENTION_DAYS must be numbers: {exc}"
            ) from None
        if str(values.get("safety_review", "auto")) not in SAFETY_REVIEW_MODES:
            raise ConfigError(f"REHEARSAL_SAFETY_REVIEW must be auto, on or off, not {values['safety_review']!r}")
        values["data_dir"] = Path(str(values["data_dir"])).expanduser()
        settings = cls(**values)  # type: ignore[arg-type]
        user_scenarios = settings.data_dir / "scenarios"
        return replace(settings, scenario_dirs=(*settings.scenario_dirs, user_scenarios))

    @property
    def store_path(self) -> Path:
        """The SQLite file holding every session."""
        return self.data_dir / "sessions.sqlite3"

    @property
    def index_dir(self) -> Path:
        """Where the local Chroma index of the knowledge cards lives."""
        return self.data_dir / "index"

    @property
    def model_cache_dir(self) -> Path:
        """Where the embedded model's joined weights are cached."""
        return self.data_dir / "models"
