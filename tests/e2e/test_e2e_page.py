"""The page at / and Swagger UI at /docs in a real browser: Debian's chromium, headless,
driven by Playwright (its own browser downloads are never used), against the running services.

A screenshot of each state goes to run/artifacts/page/ (kept after the run, ignored by git).
"""

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from e2e_helpers import Pipeline, create, project_files
from playwright.async_api import Browser, ConsoleMessage, Frame, Page, async_playwright, expect

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "run" / "artifacts" / "page"
# No background traffic to Google's hosts: the machine has no network beyond loopback.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
]
PDF_VIEWER = "chrome-extension://"
COMPILE_S = 60  # a compile on a loaded two-core machine, queueing included


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless (Playwright adds --no-sandbox: the tests may run as root)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: 'make test-deps' installs tests/debian-packages.txt",
            pytrace=False,
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        await browser.close()


async def open_page(browser: Browser, url: str, problems: list[str]) -> Page:
    """A new page at ``url`` whose console errors and uncaught exceptions go to ``problems``
    (a Content-Security-Policy violation is a console error)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(url)
    return page


async def drag_and_drop(page: Page, path: Path) -> None:
    """The file or folder at ``path`` dragged from the desktop onto the drop zone (DevTools
    protocol Input.dispatchDragEvent: the page gets real file and directory entries)."""
    box = await page.locator("#drop").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    session = await page.context.new_cdp_session(page)
    data = {"items": [], "files": [str(path)], "dragOperationsMask": 1}  # 1: copy
    for kind in ("dragEnter", "dragOver", "drop"):
        await session.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})
    await session.detach()


async def pdf_viewer_painted(page: Page) -> None:
    """Chromium's own PDF viewer (an extension frame inside the iframe) took the PDF now in
    the iframe and drew its page thumbnails: a page was rendered (names from that viewer,
    Chromium 156)."""
    src = await page.locator("#pdf").get_attribute("src")

    def viewers() -> list[Frame]:
        return [
            frame
            for frame in page.frames
            if frame.url.startswith(PDF_VIEWER)
            and frame.parent_frame is not None
            and frame.parent_frame.url == src
        ]

    deadline = asyncio.get_running_loop().time() + 20
    while not viewers():
        assert asyncio.get_running_loop().time() < deadline, [f.url for f in page.frames]
        await asyncio.sleep(0.1)
    await viewers()[0].wait_for_selector("viewer-thumbnail", state="attached", timeout=20000)


async def test_the_page_compiles_dropped_files_and_folders_and_shows_diagnostics(
    browser: Browser, pipeline: Pipeline, corpus: Path
) -> None:
    problems: list[str] = []
    page = await open_page(browser, f"{pipeline.api_url}/", problems)
    await page.screenshot(path=ARTIFACTS / "0-empty.png")
    await page.fill("#token", pipeline.token)
    assert await page.evaluate("sessionStorage.getItem('texpipe.token')") == pipeline.token
    state, pdf = page.locator("#state"), page.locator("#pdf")

    # One file dropped: applied, shown in the browser's own PDF viewer.
    await drag_and_drop(page, corpus / "hello" / "main.tex")
    await expect(state).to_have_attribute("data-state", "applied", timeout=COMPILE_S * 1000)
    await expect(pdf).to_be_visible()
    await expect(pdf).to_have_attribute("src", re.compile(r"^blob:"))
    await pdf_viewer_painted(page)
    await page.screenshot(path=ARTIFACTS / "1-file-dropped-applied.png")

    # A folder chosen with <input webkitdirectory>: subfolders and a binary figure (base64).
    before = await page.locator("#summary").text_content()
    await page.set_input_files("#pick-folder", corpus / "multifile")
    await expect(page.locator("#summary")).not_to_have_text(before or "")  # a new submission
    await expect(state).to_have_attribute("data-state", "applied", timeout=COMPILE_S * 1000)
    await expect(pdf).to_have_attribute("src", re.compile(r"^blob:"))
    await pdf_viewer_painted(page)
    await page.screenshot(path=ARTIFACTS / "2-folder-chosen-applied.png")

    # A folder dropped (its entries walked): the failure, its diagnostic, its source line.
    await drag_and_drop(page, corpus / "error-undefined")
    await expect(state).to_have_attribute("data-state", "failed", timeout=COMPILE_S * 1000)
    await expect(pdf).to_be_hidden()
    diagnostic = page.locator("#diagnostics .diagnostic.error").first
    await expect(diagnostic.locator(".where")).to_have_text("main.tex:4")
    await expect(diagnostic).to_contain_text("Undefined control sequence")
    await page.screenshot(path=ARTIFACTS / "3-folder-dropped-failed.png")

    await diagnostic.click()
    line = page.locator("#source li.hit")
    await expect(line).to_have_text(re.compile(r"This line calls \\undefinedmacro\{\}"))
    await expect(page.locator("#source .file")).to_have_text("main.tex:4")
    await page.screenshot(path=ARTIFACTS / "4-diagnostic-source-line.png")
    assert problems == []


async def test_docs_render_swagger_ui_and_try_it_out_calls_the_api(
    browser: Browser, pipeline: Pipeline, http: aiohttp.ClientSession, corpus: Path
) -> None:
    created = await create(http, project_files(corpus / "hello"), compile=False)
    problems: list[str] = []
    page = await open_page(browser, f"{pipeline.api_url}/docs", problems)
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("texpipe api")

    await page.click("button.authorize")
    token_box = page.locator(".auth-container").filter(has_text="tenantToken")
    await token_box.locator("input").fill(pipeline.token)
    await token_box.locator("button.authorize").click()
    await page.click("button.btn-done")

    operation = page.locator("#operations-v1-get_document")
    await operation.locator(".opblock-summary").click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator("tr[data-param-name='document_id'] input").fill(created["id"])
    await operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    await expect(status).to_have_text("200")
    await expect(operation.locator(".live-responses-table")).to_contain_text(created["id"])
    await status.scroll_into_view_if_needed()
    await page.screenshot(path=ARTIFACTS / "5-docs-try-it-out.png")
    assert problems == []
