"""The review app in headless Chromium: sign in, label three items with the keyboard, reload a draft, export.

Drives Debian's /usr/bin/chromium through Playwright's Python client (Playwright's
own browser download is not used). `make test` installs chromium when it is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.review.helpers import HOSTILE_IMG, HOSTILE_STEP, Server, free_port, make_triplet, seeded_store

CHROMIUM = os.environ.get("REPROLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def _need_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package"
    else:
        missing = None if Path(CHROMIUM).exists() else CHROMIUM
    if missing:
        message = f"{missing} is missing; `make test` installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def server(tmp_path: Path):
    _need_browser()
    hostile = make_triplet("t1-hostile", precheck="correct",
                           steps=["Let $n \\geq 1$.", HOSTILE_STEP, HOSTILE_IMG, "Hence $n^2 \\geq n$."])
    items = [
        (hostile, {}),
        (make_triplet("t2-wrong", "incorrect", precheck="incorrect"), {}),
        (make_triplet("t3-right", precheck="correct"), {}),
        (make_triplet("t4-draft", precheck="correct"), {}),
    ]
    store = tmp_path / "review.db"
    tokens = seeded_store(store, {"ana": 1, "lead": 2}, items)
    srv = Server(store=store, port=free_port(), log=tmp_path / "server.log", tokens=tokens)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def page(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "chromium-profile"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def wait_ready(page) -> None:
    page.wait_for_selector("body[data-ready='1']")


def test_review_three_items_with_keyboard_reload_draft_and_export(server: Server, page):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # Sign in.
    page.goto(f"{server.url}/queue")
    assert "/login" in page.url
    page.fill("#token", server.tokens["ana"])
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/queue")
    wait_ready(page)
    assert "4" in page.inner_text("#queue-open")

    # Item 1: the hostile proof. Nothing runs, the markup shows as text, the math renders.
    page.keyboard.press("n")
    page.wait_for_url("**/items/t1-hostile")
    wait_ready(page)
    assert page.locator("li.step").count() == 4
    assert page.locator("#steps img").count() == 0
    assert page.locator("#steps script").count() == 0
    assert "<script>" in page.inner_text("#step-2")
    assert "onerror" in page.inner_text("#step-3")
    assert page.locator("#step-1 .katex").count() >= 1
    assert page.evaluate("window.__pwned === undefined")
    page.keyboard.press("c")
    assert page.is_checked("#verdict-correct")
    page.keyboard.press("Enter")
    page.wait_for_url("**/items/t2-wrong?done=final")
    wait_ready(page)

    # Item 2: incorrect, step 2 marked by its number, error type by cycling, a comment.
    page.keyboard.press("i")
    page.keyboard.press("2")
    assert page.is_checked("#step-2 input[type=checkbox]")
    page.keyboard.press("]")
    page.keyboard.press("m")
    page.keyboard.type("sign flipped in step 2 <b>not bold</b>")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.wait_for_url("**/items/t3-right?done=*")
    wait_ready(page)

    # Item 3: correct with j/k navigation first (nothing marked in the end).
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert page.is_checked("#step-1 input[type=checkbox]")
    page.keyboard.press("c")
    assert not page.is_checked("#step-1 input[type=checkbox]")
    page.keyboard.press("Control+Enter")
    page.wait_for_url("**/items/t4-draft?done=*")
    wait_ready(page)

    # Item 4: start a draft, wait for the autosave, reload: the draft is back.
    page.keyboard.press("u")
    page.keyboard.press("3")
    page.keyboard.press("m")
    page.keyboard.type("not sure about step 3")
    page.keyboard.press("Escape")
    page.wait_for_selector("#label-form[data-saved='1']")
    page.wait_for_timeout(1200)  # let the timer count a little before the reload
    page.keyboard.press("s")
    page.wait_for_function("document.getElementById('save-status').textContent.startsWith('draft saved')")
    page.reload()
    wait_ready(page)
    assert page.is_checked("#verdict-unsure")
    assert page.is_checked("#step-3 input[type=checkbox]")
    assert page.input_value("#comment") == "not sure about step 3"
    assert float(page.get_attribute("#label-form", "data-seconds")) > 0

    # A new tab on the queue resumes the draft too.
    page.goto(f"{server.url}/queue")
    wait_ready(page)
    assert "t4-draft" in page.inner_text("ul.drafts")

    assert dialogs == []
    assert errors == []

    # Export as the lead: three final labels with the reviewer, steps, comment and time.
    with server.client("lead") as lead:
        response = lead.get("/export", params={"format": "jsonl"})
        assert response.status_code == 200
        records = {r["triplet_id"]: r for r in map(json.loads, response.text.splitlines())}
        stats = lead.get("/api/stats").json()
    assert set(records) == {"t1-hostile", "t2-wrong", "t3-right"}
    assert records["t1-hostile"]["final_verdict"] == "correct"
    wrong = records["t2-wrong"]
    assert wrong["final_verdict"] == "incorrect"
    assert wrong["final_error_steps"] == [2]
    assert wrong["final_error_type"] == "computational_slip"
    assert wrong["comments"][0]["comment"] == "sign flipped in step 2 <b>not bold</b>"
    assert wrong["reviewers"] == ["ana"]
    for record in records.values():
        event = record["triplet"]["review"][-1]
        assert event["reviewer"] == "ana" and event["level"] == 1
        assert event["seconds_spent"] is not None and event["seconds_spent"] >= 0
    assert stats["labels_per_reviewer"]["ana"] == 3
