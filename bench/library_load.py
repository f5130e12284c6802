"""Scenario library load time: what the app's first page waits for before it can list anything.

The baseline measured in the same run is the same load through PyYAML's pure-Python parser,
which the library used before it read its files with libyaml.

    .venv/bin/python bench/library_load.py
"""

from __future__ import annotations

import statistics
import time

import yaml

from rehearsal import scenarios
from rehearsal.settings import PROJECT_ROOT

FOLDER = PROJECT_ROOT / "scenarios"


def load_ms() -> float:
    start = time.perf_counter()
    library = scenarios.load_library([FOLDER])
    took = (time.perf_counter() - start) * 1000
    assert library.scenarios and not library.broken
    return took


def main() -> None:
    shipped = scenarios._SAFE_LOADER
    timings: dict[object, list[float]] = {yaml.SafeLoader: [], shipped: []}
    for _ in range(15):  # interleaved, so drift on a shared machine hits both alike
        for loader, times in timings.items():
            scenarios._SAFE_LOADER = loader
            times.append(load_ms())
    scenarios._SAFE_LOADER = shipped
    count = len(scenarios.scenario_files([FOLDER]))
    baseline = statistics.median(timings[yaml.SafeLoader])
    print(f"{'what':46} {'median ms':>9} {'x baseline':>10}")
    print(f"{f'baseline: {count} scenario files, pure-Python parser':46} {baseline:9.2f} {1.0:10.2f}")
    ours = statistics.median(timings[shipped])
    print(f"{f'{count} scenario files, {shipped.__name__}':46} {ours:9.2f} {ours / baseline:10.2f}")


if __name__ == "__main__":
    main()
