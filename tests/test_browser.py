"""The app in a real browser: headless Chromium driven by Playwright.

Needs Debian's Chromium (``apt-get install chromium chromium-driver``) and the Python
package ``playwright`` (``pip install playwright``; it drives the system browser, no
browser download). Skips with that message where either is missing.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from serving import free_port, wait_until

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
HOW_TO_INSTALL = "install Chromium (apt-get install chromium chromium-driver) and Playwright (pip install playwright)"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astronaut.png"

if not Path(CHROMIUM).is_file():
    pytest.skip(f"Chromium not found at {CHROMIUM}: {HOW_TO_INSTALL}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason=f"playwright is missing: {HOW_TO_INSTALL}")
PlaywrightTimeout = sync_api.TimeoutError

#: Records every ``src`` the reconstruction shows, so that no update is missed by polling.
WATCH_OUTPUT = """() => {
  window.__srcs = [];
  const seen = () => {
    const img = document.querySelector('#reconstruction img');
    const done = (document.querySelector('#status')?.innerText || '').includes('Done');
    if (img && img.src && window.__srcs.at(-1)?.src !== img.src) window.__srcs.push({src: img.src, done});
  };
  new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # The default representation (SqueezeNet) on random weights: no download, fast at 48 px; the
    # examples cached in a folder of this run's own.
    saved = os.environ.get("INVERTER_RANDOM_WEIGHTS")
    saved_cache = os.environ.get("GRADIO_EXAMPLES_CACHE")
    os.environ["INVERTER_RANDOM_WEIGHTS"] = "1"
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(tmp_path_factory.mktemp("cached_examples"))
    from inverter.ui import build_demo, launch_options

    demo = build_demo()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                            **launch_options())
    yield url
    demo.close()
    for name, value in (("INVERTER_RANDOM_WEIGHTS", saved), ("GRADIO_EXAMPLES_CACHE", saved_cache)):
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.errors = []
        tab.on("pageerror", lambda err: tab.errors.append(str(err)))
        tab.goto(server, wait_until="domcontentloaded")
        tab.wait_for_selector("#run", timeout=60_000)
        yield tab
        browser.close()


def set_number(page, elem_id: str, value: int, attempts: int = 3) -> None:
    """Type into a slider's number box and wait until the slider itself holds the value.

    Retyped if it does not stick: on a loaded machine the page's own preset-loading
    events can land after the typing and put the preset back.
    """
    box = page.locator(f"#{elem_id} input[type=number]")
    box.wait_for(state="visible")
    check = f"() => document.querySelector('#{elem_id} input[type=range]').value === '{value}'"
    for attempt in range(attempts):
        box.fill(str(value))
        box.press("Enter")
        box.press("Tab")
        try:
            page.wait_for_function(check, timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise


def status(page) -> str:
    return page.inner_text("#status")


def test_run_streams_updates_and_finishes(page, tmp_path):
    page.click("#run")  # no image yet: a readable error, not a crash
    page.wait_for_selector("text=No image", timeout=15_000)
    page.set_input_files("#input-image input[type=file]", str(EXAMPLE))
    page.wait_for_selector("#input-image img", timeout=15_000)
    set_number(page, "iterations", 40)
    page.click("text=Advanced")
    set_number(page, "image_size", 48)
    set_number(page, "snapshot_every", 4)
    page.evaluate(WATCH_OUTPUT)
    page.click("#run")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Done')", timeout=90_000)
    srcs = page.evaluate("() => window.__srcs")
    before_end = [s for s in srcs if not s["done"]]
    assert len(before_end) >= 3, f"the reconstruction changed {len(before_end) - 1} times before the end"
    assert "relative error" in status(page) and "48×48" in status(page)
    bar = page.locator("#status progress")  # a native progress bar: screen readers announce its value
    assert bar.get_attribute("value") == "100" and bar.get_attribute("max") == "100"
    assert page.get_attribute("#reconstruction img", "alt").startswith("The reconstruction")
    for name in ("reconstruction.png", "progress.gif", "result.json"):
        page.wait_for_selector(f"#downloads a[download='{name}']", timeout=10_000)
    page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
    assert (tmp_path / "app.png").stat().st_size > 10_000
    assert not page.errors, page.errors


def test_stop_halts_the_run(page):
    from inverter.ui.invert_run import active_runs

    set_number(page, "iterations", 2000)
    page.click("#run")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Running')", timeout=30_000)
    assert active_runs() == 1
    page.click("#stop")
    assert wait_until(lambda: active_runs() == 0, 15), "the inversion kept running after Stop"
    try:
        page.wait_for_function("() => document.querySelector('#status').innerText.includes('Stopped')", timeout=10_000)
    except PlaywrightTimeout:
        raise AssertionError(status(page))
    time.sleep(0.5)  # no late update of the stopped run puts "Running" back
    assert "Stopped" in status(page) and "Running" not in status(page) and "Done" not in status(page)
    assert not page.errors, page.errors


def test_layer_choices_and_presets_follow_the_representation(page):
    from inverter.ui.choices import default_layer, layer_names, preset_knobs

    before = page.inner_text("#cost")
    assert "Estimated time: about" in before and "on this CPU" in before  # what a run would cost
    page.click("#representation input")
    page.locator("[role=option]", has_text="alexnet").first.click()
    deep = default_layer("alexnet")
    page.wait_for_function(f"() => document.querySelector('#layer input').value === '{deep}'", timeout=10_000)
    assert float(page.input_value("#lambda_tv input")) == preset_knobs("alexnet", deep)["lambda_tv"]
    shallow = layer_names("alexnet")[0]
    page.click("#layer input")
    page.locator("[role=option]", has_text=shallow).first.click()
    expected = preset_knobs("alexnet", shallow)["lambda_tv"]
    page.wait_for_function(f"() => Number(document.querySelector('#lambda_tv input').value) === {expected}",
                           timeout=10_000)
    assert "Random, untrained weights" in page.inner_text("#weights-note")
    set_number(page, "restarts", 8)  # the estimate follows the work
    page.wait_for_function(f"() => document.querySelector('#cost').innerText !== {before!r}", timeout=10_000)


def test_an_example_click_shows_a_cached_result(page, server):
    """Examples are cached lazily: the first click computes one, every later click (any visitor's)
    shows the kept result at once, without running an inversion."""
    from inverter.ui.invert_run import started_runs

    first_example = page.locator("#examples tbody tr").first
    first_example.click()
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Done')", timeout=120_000)
    page.wait_for_selector("#reconstruction img", timeout=10_000)
    computed = started_runs()
    page.reload(wait_until="domcontentloaded")  # a new visitor
    page.wait_for_selector("#run", timeout=60_000)
    assert "Done" not in status(page)
    started = time.monotonic()
    page.locator("#examples tbody tr").first.click()
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Done')", timeout=20_000)
    page.wait_for_selector("#reconstruction img", timeout=10_000)
    assert started_runs() == computed, "the example ran again instead of coming from the cache"
    assert time.monotonic() - started < 15
    assert "squeezenet1_1" in status(page)  # the first example's representation
    assert not page.errors, page.errors
