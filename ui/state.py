"""What every page of the app shares: settings, the store, the library, and the model warming up.

The model is started in a background thread on the first page view, so pages render while the
local server loads its weights; only starting a conversation waits for it, and only as long as
it must. Settings chosen in the app are kept in the user's data folder (`app-settings.json`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from rehearsal.scenarios import Library, load_library, scenario_files
from rehearsal.settings import Settings
from rehearsal.store import Store

if TYPE_CHECKING:  # heavy imports wait until a conversation needs them, so the first page paints fast
    from rag.retriever import ChromaRetriever
    from rehearsal.models import ChatModel
    from rehearsal.tagger import SkillTagger

APP_SETTINGS = "app-settings.json"
CHOSEN_KEYS = ("model", "base_url")


def _saved_choices(data_dir: Path) -> dict[str, str]:
    path = data_dir / APP_SETTINGS
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in saved.items() if k in CHOSEN_KEYS and v}


def settings() -> Settings:
    """Environment settings, with the model choice made on the Settings page on top."""
    base = Settings.from_env()
    return Settings.from_env(**_saved_choices(base.data_dir))  # type: ignore[arg-type]


def save_choices(data_dir: Path, choices: dict[str, str | None]) -> None:
    """Remember the model choice for the next start of the app."""
    data_dir.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in choices.items() if k in CHOSEN_KEYS and v}
    (data_dir / APP_SETTINGS).write_text(json.dumps(clean, indent=2), encoding="utf-8")


@dataclass
class ModelLoader:
    """Builds the model in a background thread; pages ask for its status without waiting."""

    settings: Settings
    future: Future[ChatModel] = field(default_factory=Future)
    started: float = field(default_factory=time.monotonic)

    def start(self) -> ModelLoader:
        threading.Thread(target=self._load, name="model-loader", daemon=True).start()
        return self

    def _load(self) -> None:
        try:
            from rehearsal.models import get_model

            self.future.set_result(get_model(self.settings))
        except BaseException as exc:  # shown on the page, never raised in the thread
            self.future.set_exception(exc)

    @property
    def ready(self) -> bool:
        """True once the model is built (or failed)."""
        return self.future.done()

    @property
    def error(self) -> BaseException | None:
        """What went wrong while starting, if anything."""
        return self.future.exception() if self.future.done() else None

    def wait(self, timeout: float | None = None) -> ChatModel:
        """The model, waiting for it if needed (raises what the start raised)."""
        return self.future.result(timeout)

    def status(self) -> str:
        """One line for the sidebar."""
        if not self.ready:
            return f"Starting {self.settings.model}… {time.monotonic() - self.started:.0f} s"
        if self.error is not None:
            return f"{self.settings.model} failed to start: {self.error}"
        return f"{self.settings.model} ready"


@st.cache_resource(show_spinner=False)
def crisis_screen_warming() -> threading.Thread:
    """Start loading the crisis screen's learned layer in the background, once per process.
    Called when a scenario is opened: the first line typed is not kept waiting, and the app's
    first paint does not share the CPU with it."""
    thread = threading.Thread(target=warm_crisis_screen, name="crisis-screen-loader", daemon=True)
    thread.start()
    return thread


def warm_crisis_screen() -> None:
    """Load the crisis screen's learned layer (two encoders, ~2 s). A failure here is logged and
    left for the first screened line to report."""
    try:
        from rehearsal.safety import LearnedLayer

        LearnedLayer.shipped()
    except Exception:  # raised again, and shown, where the first line is screened
        logging.getLogger(__name__).exception("crisis screen: warming up failed")


@st.cache_resource(show_spinner=False)
def model_loader(settings: Settings) -> ModelLoader:
    """One model (and, for the local one, one server) per process and setting."""
    return ModelLoader(settings).start()


@st.cache_resource(show_spinner=False)
def coach_parts(settings: Settings) -> tuple[SkillTagger, ChromaRetriever]:
    """The skill tagger and the card index, loaded once per process."""
    from rehearsal.tagger import load_tagger

    return load_tagger(), retriever(settings)


@st.cache_resource(show_spinner=False)
def retriever(settings: Settings) -> ChromaRetriever:
    """The card index alone (the review page needs no tagger), opened once per process."""
    from rag.retriever import ChromaRetriever

    return ChromaRetriever(settings.index_dir, settings.chroma_url)


@st.cache_resource(show_spinner=False)
def store(settings: Settings) -> Store:
    """One connection to the session store per process; sessions past the retention period go."""
    opened = Store(settings.store_path)
    if settings.retention_days is not None:
        opened.purge_older_than(settings.retention_days)
    return opened


def library(settings: Settings) -> Library:
    """The scenario library; read again only when a scenario file is added, removed or changed."""
    files = scenario_files(settings.scenario_dirs)
    signature = tuple(
        (str(path), path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else (str(path), 0, 0)
        for path in files
    )
    return _library(signature, settings.scenario_dirs)


@st.cache_resource(show_spinner=False, max_entries=4)
def _library(signature: tuple[tuple[str, int, int], ...], dirs: tuple[Path, ...]) -> Library:
    return load_library(dirs)


def get(key: str, default: Any = None) -> Any:
    """A value kept across reruns in this browser tab."""
    return st.session_state.get(key, default)


@st.cache_resource(show_spinner=False)
def _cards() -> dict[str, str]:
    from rag.cards import load_cards

    out = {}
    for card in load_cards():
        refs = "\n".join(f"- {ref}" for ref in card.meta.references)
        out[card.meta.id] = f"{card.text.replace('## ', '##### ')}\n\n##### References\n{refs}"
    return out


def card_text(card_id: str) -> str:
    """A knowledge card's body as Markdown (the project's own text), or '' if unknown."""
    return _cards().get(card_id, "")
