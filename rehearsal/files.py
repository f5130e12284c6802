"""Replacing the project's model files: new files under new names, moved into place at the end."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def staged(*paths: Path) -> Iterator[list[Path]]:
    """New names for files that will replace `paths` (`safety.npz` -> `safety.new.npz`), moved over
    them in the order given only when the block finishes; whatever was written is removed when it
    does not (a failure, a refusal), so the files in place are never half-written or half-replaced.

    Order matters where one file names another: an encoder goes before the head fit over it, and a
    logistic fit before the head paired beside it. A crash between two moves then leaves a head
    that is refused by its digest and left out, never one read beside the wrong partner."""
    written = [path.with_suffix(".new" + path.suffix) for path in paths]
    try:
        yield written
        for new, path in zip(written, paths, strict=True):
            new.replace(path)
    finally:
        for new in written:
            new.unlink(missing_ok=True)
