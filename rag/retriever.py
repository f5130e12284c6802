"""Retrieval over the knowledge cards: a persistent Chroma collection behind a small interface.

The local store lives in the user's data folder and is rebuilt when missing or stale (the card
fingerprint is kept in the collection's metadata). Setting a Chroma server URL swaps the local store
for `chromadb.HttpClient`; nothing else changes. Embeddings always come from the packaged model.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from rag.cards import CARDS_DIR, Card, cards_fingerprint, chunk_cards, load_cards
from rag.embeddings import MiniLMEmbeddingFunction, shared_encoder

COLLECTION = "technique_cards"


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk of a card, with its cosine similarity."""

    card_id: str
    title: str
    section: str
    text: str
    score: float


class Retriever(Protocol):
    """Finds the card chunks that best match a query, optionally only cards serving a label."""

    def search(self, query: str, label: str | None = None, k: int = 3) -> list[Hit]:
        """Best hits first."""
        ...

    def card_ids(self) -> set[str]:
        """Every card id in the index."""
        ...


def _client(index_dir: Path, url: str | None) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url)
        return chromadb.HttpClient(
            host=parsed.hostname or "localhost",
            port=parsed.port or 8000,
            ssl=parsed.scheme == "https",
            settings=settings,
        )
    index_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(index_dir), settings=settings)


def build_index(client: Any, cards: list[Card]) -> Any:
    """(Re)create the collection from the cards; returns the collection."""
    existing = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
    if COLLECTION in existing:
        client.delete_collection(COLLECTION)
    collection = client.create_collection(
        COLLECTION,
        embedding_function=MiniLMEmbeddingFunction(),
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"fingerprint": cards_fingerprint(cards)},
    )
    chunks = chunk_cards(cards)
    collection.add(
        ids=[c.id for c in chunks],
        documents=[c.text for c in chunks],
        metadatas=[
            {"card_id": c.card_id, "title": c.title, "section": c.section, **{f"label_{lab}": True for lab in c.labels}}
            for c in chunks
        ],
    )
    return collection


class ChromaRetriever:
    """The card index in Chroma (local folder or server)."""

    QUERIES_KEPT = 256  # query embeddings remembered, most recently used kept

    def __init__(self, index_dir: Path, url: str | None = None, cards_dir: Path = CARDS_DIR):
        self.client = _client(index_dir, url)
        self.cards = load_cards(cards_dir)
        self.titles = {card.meta.id: card.meta.title for card in self.cards}
        self.build_seconds: float | None = None
        self.collection = self._open_or_build()
        # one turn asks with the same text for several labels, and with the scenario's goal every
        # turn: each distinct query is embedded once
        self._queries: OrderedDict[str, Any] = OrderedDict()
        self._queries_lock = threading.Lock()

    def forget_queries(self) -> None:
        """Drop every remembered query embedding."""
        with self._queries_lock:
            self._queries.clear()

    def _embed(self, query: str) -> Any:
        with self._queries_lock:
            if query in self._queries:
                self._queries.move_to_end(query)
                return self._queries[query]
        vector = shared_encoder().encode([query])[0]
        with self._queries_lock:
            self._queries[query] = vector
            while len(self._queries) > self.QUERIES_KEPT:
                self._queries.popitem(last=False)
        return vector

    def _open_or_build(self) -> Any:
        fingerprint = cards_fingerprint(self.cards)
        try:
            collection = self.client.get_collection(COLLECTION, embedding_function=MiniLMEmbeddingFunction())
            if (collection.metadata or {}).get("fingerprint") == fingerprint:
                return collection
        except Exception:  # missing collection: chroma raises different types across versions
            pass
        return self.rebuild()

    def rebuild(self) -> Any:
        """Rebuild the collection from the cards now."""
        start = time.perf_counter()
        self.collection = build_index(self.client, self.cards)
        self.build_seconds = time.perf_counter() - start
        return self.collection

    def search(self, query: str, label: str | None = None, k: int = 3) -> list[Hit]:
        """Best chunks for `query`; with `label`, only chunks of cards that serve it."""
        where = {f"label_{label}": True} if label else None
        result = self.collection.query(query_embeddings=[self._embed(query)], n_results=k, where=where)
        hits = []
        for doc, meta, dist in zip(result["documents"][0], result["metadatas"][0], result["distances"][0], strict=True):
            hits.append(Hit(str(meta["card_id"]), str(meta["title"]), str(meta["section"]), doc, round(1 - dist, 4)))
        return hits

    def card_ids(self) -> set[str]:
        """Every card id in the index."""
        return set(self.titles)
