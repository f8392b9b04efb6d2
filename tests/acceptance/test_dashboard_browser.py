"""The dashboard in a real browser (Debian's chromium, headless, driven by Playwright).

Against a real uvicorn API and procrastinate worker: jobs appear and progress
without a reload (the page follows the SSE stream), and the buttons retry and
cancel through the public API.

Screenshots of every page are saved to the test's temporary directory, or to
docs/screenshots/ when UPDATE_DOCS_SCREENSHOTS=1 (how the documentation's
images are refreshed).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from harness.conditions import DEFAULT_TIMEOUT, wait_for
from harness.processes import ROOT
from harness.stack import Stack

#: In CI (CI=true) a missing chromium fails these tests: they must never skip silently there.
IN_CI = os.environ.get("CI") == "true"
pytestmark = [
    pytest.mark.acceptance,
    pytest.mark.skipif(
        shutil.which("chromium") is None and not IN_CI,
        reason="chromium is not installed (scripts/test installs it; in CI this fails instead)",
    ),
]

CHROMIUM = "/usr/bin/chromium"
#: Generous for a loaded machine; every wait ends as soon as its condition holds.
UPDATE_TIMEOUT_MS = int(DEFAULT_TIMEOUT * 1000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: CI must run the browser tests (see scripts/test)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots"
    return tmp_path


def _create(client: httpx.Client, task: str, args: dict[str, Any], **options: Any) -> int:
    response = client.post("/jobs", json={"task": task, "args": args, **options})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _status(client: httpx.Client, job_id: int) -> str:
    return str(client.get(f"/jobs/{job_id}").json()["status"])


def _open_live(page: Page, url: str) -> None:
    """Open a page and wait until its event stream is connected; mark the document."""
    page.goto(url)
    expect(page.locator("#live-status")).to_have_class("live on", timeout=UPDATE_TIMEOUT_MS)
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads


def _not_reloaded(page: Page) -> None:
    assert page.evaluate("window.loadedOnce") is True


def test_new_job_appears_and_progresses_to_succeeded_without_reload(
    stack: Stack, page: Page, shots: Path
) -> None:
    stack.start_api()
    stack.start_worker("--concurrency", "4")
    with stack.client() as client:
        _open_live(page, stack.base_url + "/dashboard/jobs")
        job_id = _create(
            client,
            "llm.generate",
            {"prompt": "live dashboards", "max_tokens": 40, "seconds_per_token": 0.1},
        )
        row = page.locator(f'tr[data-job-id="{job_id}"]')
        expect(row).to_be_visible(timeout=UPDATE_TIMEOUT_MS)
        expect(row.locator(".badge")).to_have_text("doing", timeout=UPDATE_TIMEOUT_MS)
        expect(row.locator(".progress .text")).to_contain_text("%", timeout=UPDATE_TIMEOUT_MS)
        expect(row.locator(".badge")).to_have_text("succeeded", timeout=UPDATE_TIMEOUT_MS)
        _not_reloaded(page)

        page.goto(f"{stack.base_url}/dashboard/jobs/{job_id}")
        expect(page.locator("#job-progress .text")).to_have_text("100% · 40 tokens")
        expect(page.locator("table.timeline tbody tr")).to_have_count(3)
        assert _status(client, job_id) == "succeeded"


def test_failed_job_is_retried_from_its_page_and_succeeds(
    stack: Stack, page: Page, shots: Path
) -> None:
    stack.start_api()
    stack.start_worker()
    with stack.client() as client:
        # rejected on attempt 1 (a final failure: no automatic retry), fine on attempt 2
        job_id = _create(client, "tools.run", {"tool": "search", "reject_first_attempts": 1})
        wait_for(lambda: _status(client, job_id) == "failed", what="the job to fail")

        _open_live(page, f"{stack.base_url}/dashboard/jobs/{job_id}")
        header = page.locator("#job-header")
        expect(header.locator(".badge")).to_have_text("failed")
        expect(page.locator("pre.traceback")).to_contain_text("ToolRejectedError")
        page.screenshot(path=shots / "job-failed.png", full_page=True)
        header.get_by_role("button", name="Retry").click()
        expect(header.locator(".badge")).to_have_text("succeeded", timeout=UPDATE_TIMEOUT_MS)
        expect(page.locator("#job-outcome pre.json")).to_contain_text('"attempt": 2')
        _not_reloaded(page)
        expect(page.locator("#toast")).to_be_hidden(timeout=UPDATE_TIMEOUT_MS)
        page.screenshot(path=shots / "job.png", full_page=True)


def test_queued_job_is_cancelled_from_its_page(stack: Stack, page: Page) -> None:
    stack.start_api()  # no worker: the job stays queued
    with stack.client() as client:
        job_id = _create(client, "video.transcode", {"video_url": "s3://bucket/talk.mov"})
        _open_live(page, f"{stack.base_url}/dashboard/jobs/{job_id}")
        header = page.locator("#job-header")
        expect(header.locator(".badge")).to_have_text("todo")
        header.get_by_role("button", name="Cancel").click()
        expect(header.locator(".badge")).to_have_text("cancelled", timeout=UPDATE_TIMEOUT_MS)
        expect(page.locator("#toast")).to_have_text(f"Job #{job_id} cancelled")
        _not_reloaded(page)
        assert _status(client, job_id) == "cancelled"


def test_every_page_renders_live(stack: Stack, page: Page, shots: Path) -> None:
    stack.start_api()
    stack.start_worker("--concurrency", "4")
    with stack.client() as client:
        done = [
            _create(client, "agents.run", {"agent": f"agent-{n}", "objective": "triage"})
            for n in range(6)
        ]
        dead = _create(client, "tools.run", {"tool": "crm", "reject_first_attempts": 1})
        running = _create(
            client, "video.transcode", {"video_url": "s3://b/keynote.mov", "duration_seconds": 60}
        )
        _create(client, "llm.generate", {"prompt": "later"}, schedule_in=3600)
        wait_for(
            lambda: (
                all(_status(client, job) == "succeeded" for job in done)
                and _status(client, dead) == "failed"
                and _status(client, running) == "doing"
            ),
            what="the sample jobs to settle",
        )
        pages = {
            "overview": "/dashboard",
            "jobs": "/dashboard/jobs",
            "queues": "/dashboard/queues",
            "workers": "/dashboard/workers",
            "schedules": "/dashboard/schedules",
            "dead-letters": "/dashboard/dead-letters",
        }
        for name, path in pages.items():
            _open_live(page, stack.base_url + path)
            if name == "overview":  # its figures are cached for 2 s: they catch up live
                succeeded = page.locator('[data-count="succeeded"]')
                expect(succeeded).not_to_have_text("0", timeout=UPDATE_TIMEOUT_MS)
                expect(page.locator("#overview-workers .big")).to_contain_text("1 live")
            page.screenshot(path=shots / f"{name}.png", full_page=True)

        # the workers page follows the running job's progress live
        page.goto(stack.base_url + "/dashboard/workers")
        progress = page.locator(f'[data-progress-job="{running}"] .text')
        first = progress.inner_text()
        expect(progress).not_to_have_text(first, timeout=UPDATE_TIMEOUT_MS)

        # bulk retry from the dead letters page
        _open_live(page, stack.base_url + "/dashboard/dead-letters")
        page.locator(f'input[name="dead-letter"][value="{dead}"]').check()
        page.get_by_role("button", name="Retry selected").click()
        expect(page.locator("#toast")).to_contain_text("1 of 1 dead letters queued again")
        wait_for(lambda: _status(client, dead) == "succeeded", what="the retried dead letter")
        client.post(f"/jobs/{running}/cancel")
