"""End to end in a real headless Chromium: choose, talk, rewind, finish, read the report, export;
then every other room (trainee and swap-roles modes, a session left without ending on Review,
Progress, Author with an invalid scenario and the template's preview, Settings).

Runs `streamlit run app.py` on a free local port with the fake model (one server for the module),
drives Debian's Chromium through Playwright, and saves a screenshot of each step (desktop 1280×800
and phone 390 px wide) under test-artifacts/browser/. Prints the time from server start to the
first paint of the app, beside that of a one-line Streamlit page served and opened just before it
in the same browser; the app may take at most FIRST_PAINT_RATIO times as long.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
# The app's first paint may take at most this many times a one-line Streamlit page's, measured in the
# same browser just before. Alone the app paints in 2.3-2.8 s here, idle or beside two busy cores, but
# in full fresh-clone runs it has taken up to 5.4 s for reasons outside the app; the ratio measured
# here was 1.3-1.7. A slow import or a heavy first script run moves only the app's time (3 s more: 3.3x).
FIRST_PAINT_RATIO = 2.5
BASELINE_TEXT = "Baseline page"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'

pytestmark = pytest.mark.skipif(
    os.environ.get("REHEARSAL_SKIP_BROWSER") == "1", reason="REHEARSAL_SKIP_BROWSER=1 set by the user"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(data: Path, script: Path = ROOT / "app.py") -> Iterator[tuple[str, float]]:
    """The app (or another Streamlit script) on a free port; yields its URL and the moment the
    server first answered (it has started)."""
    port = free_port()
    env = {**os.environ, "REHEARSAL_MODEL": "fake", "REHEARSAL_DATA_DIR": str(data)}
    command = [
        *(sys.executable, "-m", "streamlit", "run", str(script)),
        *("--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1"),
        *("--browser.gatherUsageStats", "false"),
    ]
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start: {process.stderr.read()!r}") from None  # type: ignore[union-attr]
                time.sleep(0.1)
        listening = time.monotonic()
        print(f"\nserver answered /_stcore/health {listening - started:.2f} s after its process started")
        yield url, listening
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, launched before the server starts so first paint measures the app."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install -y chromium)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield launched
        launched.close()


def page_first_paint(browser: Any, url: str, started: float, text: str) -> float:
    """Seconds from the server's first answer until `text` shows in a new tab."""
    page = browser.new_page(viewport=DESKTOP)
    page.goto(url)
    page.get_by_text(text).first.wait_for(timeout=30_000)
    seconds = time.monotonic() - started
    page.close()
    return seconds


@pytest.fixture(scope="module")
def baseline_paint(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> float:
    """First paint of a one-line Streamlit page, served and measured as the app is, before the app
    starts: what Streamlit and the browser cost on this machine at this moment."""
    folder = tmp_path_factory.mktemp("baseline")
    script = folder / "baseline.py"
    script.write_text(f"import streamlit as st\n\nst.title({BASELINE_TEXT!r})\n", encoding="utf-8")
    with serve(folder / "data", script) as (url, started):
        return page_first_paint(browser, url, started, BASELINE_TEXT)


@pytest.fixture(scope="module")
def served(
    browser: Any, baseline_paint: float, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, float]]:
    """The app, shared by the tests of this module; its URL and when it first answered (after the
    baseline page, so the two are measured one after the other)."""
    with serve(tmp_path_factory.mktemp("browser") / "data") as running:
        yield running


def test_rehearse_rewind_report_and_export_in_a_real_browser(
    browser: Any, served: tuple[str, float], baseline_paint: float, capsys: pytest.CaptureFixture[str]
) -> None:
    from playwright.sync_api import expect

    url, started = served
    page = browser.new_page(viewport=DESKTOP, accept_downloads=True)
    first_paint = walk_through(page, url, started, expect)
    page.close()
    ratio = first_paint / baseline_paint
    report = (
        f"first paint {first_paint:.2f} s after the server started answering; a one-line Streamlit page "
        f"{baseline_paint:.2f} s in the same run; {ratio:.2f}x (limit {FIRST_PAINT_RATIO}x)"
    )
    (ARTIFACTS / "first-paint.txt").write_text(report + "\n")
    with capsys.disabled():  # shown in every run, not only on failure
        print(f"\n[browser] {report}")
    assert ratio <= FIRST_PAINT_RATIO, report


def screenshot(page: Any, name: str) -> None:
    """Save the viewport once the app is idle."""
    page.wait_for_selector(IDLE, timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def to_phone(page: Any) -> None:
    """Phone width; Streamlit folds the sidebar away, wait for it to finish sliding."""
    page.set_viewport_size(PHONE)
    page.wait_for_selector('[data-testid="stSidebar"][data-collapsed="true"]', state="attached")
    page.wait_for_timeout(800)


def both_widths(page: Any, name: str, focus: str | None = None) -> None:
    """Screenshots at desktop and phone width (`name`, `name-phone`), each scrolled to the text
    `focus` if given; back at desktop width after."""
    for width, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
        if width is PHONE:
            to_phone(page)
        if focus:
            page.get_by_text(focus).first.scroll_into_view_if_needed()
        screenshot(page, name + suffix)
    page.set_viewport_size(DESKTOP)


def walk_through(page: Any, url: str, started: float, expect: Any) -> float:
    """Every step of a session in the browser; returns the first paint time."""

    def shot(name: str) -> None:
        screenshot(page, name)

    def phone() -> None:
        to_phone(page)

    page.goto(url)
    page.get_by_text("Choose a conversation to rehearse").wait_for(timeout=30_000)
    first_paint = time.monotonic() - started
    print(f"\nfirst paint of the app: {first_paint:.2f} s after the server started")
    shot("01-choose")
    page.get_by_role("button", name="Rehearse this").first.click()
    page.get_by_role("button", name="Start the conversation").wait_for(timeout=30_000)
    shot("02-scenario")
    page.get_by_role("button", name="Start the conversation").click()
    chat = page.get_by_test_id("stChatInputTextArea")
    chat.wait_for(timeout=90_000)
    lines = [
        "It sounds like this has been weighing on you.",
        "You never think about anyone but yourself.",
        "What would help you most right now?",
    ]
    replies = page.get_by_role("group", name="Chat message from assistant")
    for n, line in enumerate(lines, start=1):
        before = replies.count()
        chat.fill(line)
        chat.press("Enter")
        expect(replies).to_have_count(before + 1, timeout=60_000)
        shot(f"03-line-{n}")
    page.get_by_role("button", name="Take back my last line").click()
    page.get_by_text("Taken back:").wait_for(timeout=30_000)
    expect(page.get_by_text(lines[-1], exact=True)).to_have_count(0)
    chat.fill("How has this week been for you?")
    chat.press("Enter")
    page.get_by_text("How has this week been for you?", exact=True).first.wait_for(timeout=60_000)
    shot("04-rewound")
    phone()
    shot("05-phone-rehearse")
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Finish and see the report").click()
    page.get_by_text("Second tries").wait_for(timeout=60_000)
    page.get_by_text("Goals").first.wait_for()
    shot("06-report")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export as Markdown").click()
    saved = ARTIFACTS / "session.md"
    download.value.save_as(saved)
    exported = saved.read_text(encoding="utf-8")
    assert "taken back" in exported and "## Transcript" in exported
    phone()
    shot("07-phone-report")
    return first_paint


def test_every_room_at_desktop_and_phone_width(browser: Any, served: tuple[str, float]) -> None:
    """Trainee and swap-roles modes, Review of a session left without ending, Progress, Author and
    Settings, each seen at desktop and phone width."""
    from playwright.sync_api import expect

    url, _ = served
    page = browser.new_page(viewport=DESKTOP)
    started = time.monotonic()
    for mode, title, line in (
        ("Trainee: I am the therapist", "Therapist practice", "What happened the last time you talked about it?"),
        ("Swap roles: I play the other person", "Swap roles", "I'm listening. What do you need from me?"),
    ):
        rehearse_in_mode(page, url, mode, line, expect)
        page.get_by_text(title).first.wait_for()
        both_widths(page, "10-trainee" if title == "Therapist practice" else "11-swap")
    page.goto(f"{url}/review")  # a new browser session: the swap-roles conversation was left without ending
    page.get_by_text("Not ended — report built from the 1 turn saved.").wait_for(timeout=60_000)
    both_widths(page, "12-review-not-ended")
    page.goto(f"{url}/progress")
    page.get_by_text("finished sessions").or_(page.get_by_text("Finish a rehearsal")).first.wait_for(timeout=30_000)
    both_widths(page, "13-progress")
    author(page, url)
    page.goto(f"{url}/settings")
    page.get_by_text("Who plays the counterpart").wait_for(timeout=30_000)
    both_widths(page, "16-settings")
    page.close()
    print(f"\n[browser] every room at two widths in {time.monotonic() - started:.1f} s")


def rehearse_in_mode(page: Any, url: str, mode: str, line: str, expect: Any) -> None:
    """From the library, start the first scenario in `mode` and say one line."""
    page.goto(url)
    page.get_by_role("button", name="Rehearse this").first.click()
    page.get_by_text(mode).click()
    page.get_by_role("button", name="Start the conversation").wait_for(timeout=30_000)
    page.wait_for_selector(IDLE, timeout=30_000)
    page.get_by_role("button", name="Start the conversation").click()
    chat = page.get_by_test_id("stChatInputTextArea")
    chat.wait_for(timeout=60_000)
    replies = page.get_by_role("group", name="Chat message from assistant")
    expect(replies).to_have_count(1, timeout=30_000)
    chat.fill(line)
    chat.press("Enter")
    expect(replies).to_have_count(2, timeout=60_000)
    # the page is redrawn after the reply: wait for the feedback on the line, not just the reply
    expect(page.get_by_text("Say something: feedback on your line appears here.")).to_have_count(0, timeout=30_000)


def author(page: Any, url: str) -> None:
    """An invalid scenario shows what is wrong; the template is valid and previewed."""
    from rehearsal.scenarios import scenario_template

    page.goto(f"{url}/author")
    editor = page.get_by_label("Scenario YAML")
    editor.wait_for(timeout=30_000)
    editor.fill("id: Bad Id\ntitle: [unclosed\n")
    editor.press("Control+Enter")
    page.get_by_text("Not valid yet:").wait_for(timeout=30_000)
    both_widths(page, "14-author-invalid", focus="Not valid yet:")
    editor.fill(scenario_template())
    editor.press("Control+Enter")
    page.get_by_text("It will be saved as").wait_for(timeout=30_000)
    both_widths(page, "15-author-preview", focus="It will be saved as")
