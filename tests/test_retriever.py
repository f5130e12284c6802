"""The card index on a real Chroma store, with the packaged embeddings and no network."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from rag.cards import CARDS_DIR
from rag.retriever import ChromaRetriever


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a non-loopback connection fails the test."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost") and not str(host).startswith("/"):
            raise AssertionError(f"network access attempted: {address}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


def test_build_and_search_offline(index_dir: Path, no_network: None) -> None:
    retriever = ChromaRetriever(index_dir)
    assert retriever.build_seconds is not None
    hits = retriever.search("How do I say no to my manager without a list of excuses?", k=3)
    assert hits and hits[0].score > 0.3
    assert all(hit.card_id in retriever.card_ids() for hit in hits)


def test_label_filter_only_returns_cards_serving_the_label(index_dir: Path, no_network: None) -> None:
    retriever = ChromaRetriever(index_dir)
    assert retriever.build_seconds is None, "an up-to-date index is reused, not rebuilt"
    serving = {card.meta.id for card in retriever.cards if "stonewalling" in card.meta.labels}
    hits = retriever.search("I'm done talking about this.", label="stonewalling", k=5)
    assert hits and {hit.card_id for hit in hits} <= serving


def test_changed_cards_make_the_index_stale(tmp_path: Path, no_network: None) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    for name in ("broken-record.md", "open-questions.md", "grief-work.md"):
        shutil.copy(CARDS_DIR / name, cards / name)
    first = ChromaRetriever(tmp_path / "idx", cards_dir=cards)
    assert first.build_seconds is not None
    path = cards / "broken-record.md"
    path.write_text(path.read_text().replace("## Watch out for", "## Watch out for\n- A new point."))
    assert ChromaRetriever(tmp_path / "idx", cards_dir=cards).build_seconds is not None


def test_a_repeated_query_is_embedded_once_and_finds_the_same(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.retriever as retriever_module

    retriever = ChromaRetriever(index_dir)
    query = "I'm not able to take Saturday."
    first = retriever.search(query, label="boundary", k=2)
    seen: list[str] = []
    real = retriever_module.shared_encoder()

    class Counting:
        def encode(self, texts: list[str]):  # type: ignore[no-untyped-def]
            seen.extend(texts)
            return real.encode(texts)

    monkeypatch.setattr(retriever_module, "shared_encoder", Counting)
    assert retriever.search(query, label="boundary", k=2) == first
    assert retriever.search(query, label="request", k=2)
    assert seen == [], "a query already embedded was embedded again"
    retriever.search("Something new.", k=1)
    assert seen == ["Something new."]
    # the same as Chroma's own embedding of the query text
    own = retriever.collection.query(query_texts=[query], n_results=2, where={"label_boundary": True})
    assert [h.text for h in first] == own["documents"][0]
