"""End to end: the real server in headless Chromium, offline; click An Khánh, read the panel."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# The README's screenshot is refreshed only on request:
#   GIS_SCREENSHOT=docs/screenshot-map.png .venv/bin/pytest tests/test_e2e.py
SCREENSHOT_ENV = "GIS_SCREENSHOT"
INSIDE_AN_KHANH = (10.787, 106.735)  # lat, lon
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Chromium at {CHROMIUM}"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"streamlit did not become healthy at {url} within {timeout} s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "GIS_DB": str(tmp_path / "ward.gpkg"),
        "GIS_BASEMAP": "none",
        "GIS_LANG": "vi",
    }
    env.pop("GIS_WARD", None)
    streamlit = shutil.which("streamlit", path=str(Path(sys.executable).parent)) or "streamlit"
    log = (tmp_path / "server.log").open("wb")
    command = [streamlit, "run", str(ROOT / "app.py")]
    command += ["--server.headless", "true", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    command += ["--client.toolbarMode", "minimal"]  # no "Deploy" button in the screenshot
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


def test_click_an_khanh_shows_its_attributes(server: str, tmp_path: Path) -> None:
    screenshot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "map.png")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server, wait_until="domcontentloaded")

            iframe = page.locator('iframe[title="streamlit_folium.st_folium"]')
            iframe.wait_for(state="visible", timeout=60_000)
            frame = iframe.element_handle().content_frame()
            assert frame is not None
            frame.wait_for_selector("path.leaflet-interactive", timeout=60_000)
            assert frame.locator("path.leaflet-interactive").count() > 10
            legend = frame.locator(".gis-legend")
            assert "Phường An Khánh (mới)" in legend.inner_text()
            attribution = frame.locator(".leaflet-control-attribution").inner_text()
            assert "GADM 4.1 (www.gadm.org), phi thương mại" in attribution
            assert frame.locator(".leaflet-control-scale").count() == 1
            assert frame.locator(".leaflet-control-layers").count() == 1
            assert frame.locator("img.leaflet-tile").count() == 0  # offline: no tiles

            x, y = frame.evaluate(
                "([lat, lon]) => { const p = window.map.latLngToContainerPoint([lat, lon]);"
                " return [p.x, p.y]; }",
                list(INSIDE_AN_KHANH),
            )
            box = iframe.bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + x, box["y"] + y)

            page.get_by_text("27094", exact=True).wait_for(timeout=30_000)
            panel = page.locator('[data-testid="stTable"]').first.inner_text()
            assert "An Khánh" in panel
            assert "27094" in panel
            assert "76.967" in panel
            page.mouse.move(box["x"] + 5, box["y"] + box["height"] - 5)
            page.wait_for_timeout(500)

            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
            assert screenshot.stat().st_size > 10_000
            assert not errors, errors
        finally:
            browser.close()
