"""Check candidate lines against every line the project holds, printing ids and cosines only.

New tuning or exemplar lines must not repeat a held-out line, or the held-out figures would
measure memory. This encodes the candidates and every reference file with the packaged MiniLM
and reports, per reference file, the highest cosine and how many candidates reach the threshold,
then each pair at or over it as `candidate id  file:reference id  cosine`. It never prints a
line's text: the held-out sets must stay unread by whoever writes or judges the candidates.

    .venv/bin/python tools/near_copies.py CANDIDATES.jsonl [--threshold 0.95] [--keep OUT.jsonl]

With `--keep`, the candidates under the threshold against every reference are written to OUT.
By default the references are the crisis screen's sets (`rehearsal/data/safety/`), the tagger's
exemplars and fresh sets, and the example lines written into the tests are not included.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.embeddings import shared_encoder  # noqa: E402

REFERENCES = (
    "rehearsal/data/safety/*.jsonl",
    "rehearsal/data/exemplars/*.jsonl",
    "rehearsal/data/tagger-fresh*.jsonl",
)


def read_lines(path: Path) -> list[tuple[str, str]]:
    """(id, text) of each JSON line; a line without both is an error naming file and line number."""
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            rows.append((str(row["id"]), str(row["text"])))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise SystemExit(f"{path}:{number}: needs a JSON object with 'id' and 'text' ({error})") from None
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", type=Path)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--reference", action="append", help="a glob under the project root (repeatable)")
    parser.add_argument("--keep", type=Path, help="write the candidates under the threshold everywhere here")
    args = parser.parse_args(argv)

    candidates = read_lines(args.candidates)
    encoder = shared_encoder()
    mine = encoder.encode([text for _, text in candidates])
    flagged: set[str] = set()
    print(f"{len(candidates)} candidates from {args.candidates.name}; threshold {args.threshold}")
    print(f"{'reference file':40} {'lines':>6} {'highest':>8} {'at or over':>10}")
    pairs = []
    for pattern in args.reference or REFERENCES:
        for path in sorted(ROOT.glob(pattern)):
            if path.resolve() == args.candidates.resolve():
                continue
            reference = read_lines(path)
            if not reference:
                continue
            cosines = mine @ encoder.encode([text for _, text in reference]).T
            over = np.argwhere(cosines >= args.threshold)
            near = {candidates[i][0] for i, _ in over}
            flagged |= near
            print(f"{path.relative_to(ROOT)!s:40} {len(reference):6d} {cosines.max():8.3f} {len(near):10d}")
            pairs += [(candidates[i][0], f"{path.name}:{reference[j][0]}", float(cosines[i, j])) for i, j in over]
    for candidate, where, cosine in sorted(pairs, key=lambda pair: -pair[2]):
        print(f"{candidate}  {where}  {cosine:.3f}")
    print(f"{len(flagged)} of {len(candidates)} candidates reach {args.threshold} somewhere")
    if args.keep:
        kept = [raw for raw in args.candidates.read_text(encoding="utf-8").splitlines() if raw.strip()]
        kept = [raw for raw in kept if str(json.loads(raw)["id"]) not in flagged]
        args.keep.write_text("".join(raw + "\n" for raw in kept), encoding="utf-8")
        print(f"kept {len(kept)} -> {args.keep}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
