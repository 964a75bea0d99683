"""Rendering a page in headless Chromium (Debian's `chromium`) for the
report tests, driven by Playwright over its DevTools pipe.

Playwright is the field's standard browser driver for tests; it runs the
Debian browser here (`executable_path`), never a downloaded one. A page is
rendered with every console message, page error and network request
recorded, so a test can assert there are none, then screenshotted.
"""
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import sync_playwright

from sanitizer_env import without_sanitizer_runtime


@dataclass
class Rendered:
    text: str                      # document.body.innerText after rendering
    dom: str                       # the serialised DOM
    console_errors: list = field(default_factory=list)   # console errors, warnings, page errors
    requests: list = field(default_factory=list)         # URLs fetched besides the page itself
    script_count: int = 0          # <script> elements in the DOM
    svg_count: int = 0             # rendered <svg> elements with a non-empty box
    evaluated: dict = field(default_factory=dict)        # name -> value of a given expression


def chromium_binary() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise AssertionError("The Debian package 'chromium' is not installed (make test installs "
                             "it; by hand: apt-get install chromium).")
    return path


def render(page_path: Path, screenshot: Path, width: int = 1280, height: int = 900,
           evaluate: dict | None = None) -> Rendered:
    """Render a page file; `evaluate` maps names to JavaScript expressions
    evaluated in the rendered page (DevTools evaluation, not page script)."""
    url = page_path.resolve().as_uri()
    with without_sanitizer_runtime(), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_binary(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            out = Rendered("", "")
            page.on("console", lambda m: m.type in ("error", "warning") and
                    out.console_errors.append(f"console {m.type}: {m.text}"))
            page.on("pageerror", lambda e: out.console_errors.append(f"page error: {e}"))
            page.on("request", lambda r: r.url != url and out.requests.append(r.url))
            page.goto(url, wait_until="load")
            out.text = page.inner_text("body")
            out.dom = page.content()
            out.script_count = page.locator("script").count()
            out.svg_count = page.evaluate(
                "[...document.querySelectorAll('svg')]"
                ".filter(s => s.getBoundingClientRect().width > 100).length")
            out.evaluated = {name: page.evaluate(expr) for name, expr in (evaluate or {}).items()}
            page.screenshot(path=str(screenshot), full_page=True)
            return out
        finally:
            browser.close()
