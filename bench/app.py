"""The running app at scale, in headless Chromium: pan, click, the route page, and its memory.

The app (``streamlit run app.py``) serves a GeoPackage holding the ward, 100,000 synthetic
parcels and a 50,000-edge street network. A browser signs in, opens the clearance map, zooms
to a block, pans, clicks a parcel, then opens the route page (which builds the routing graph).
Memory is the server process's peak resident set (``VmHWM``) after all of it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import geopandas as gpd
from playwright import sync_api

from bench.common import heading, row
from geo import auth, clearance, demo, streets, synthetic, wards
from geo.config import load_settings
from geo.store import open_store
from ui.i18n import t

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]  # fmt: skip
USER, PASSWORD = "bench.admin", "mật khẩu thử tải 2026"
MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
DRAWN_JS = """() => {
    if (!window.map || !window.feature_group) { return null; }
    const fids = [];
    let cells = 0;
    window.feature_group.forEach((g) => g.eachLayer((l) => {
        const p = l.feature && l.feature.properties;
        if (p && p.p !== undefined && window.map.hasLayer(l)) { fids.push(p.p); }
        if (p && p.cell !== undefined && window.map.hasLayer(l)) { cells += 1; }
    }));
    return {fids: fids, cells: cells, zoom: window.map.getZoom()};
}"""


def make_store(
    folder: Path, parcels: gpd.GeoDataFrame | None, edges: gpd.GeoDataFrame | None
) -> Path:
    """A GeoPackage with the ward, the parcels (demo layer), the streets and an admin."""
    settings = load_settings({})
    path = folder / "ward.gpkg"
    with open_store(str(path)) as store:
        wards.seed_store(store, settings.profile)
        if parcels is not None:
            store.write_layer(
                clearance.DEMO_LAYER, parcels.reset_index(drop=True), title=demo.DEMO_TITLE,
                source=synthetic.SOURCE, licence=demo.DEMO_LICENCE, user=demo.DEMO_USER,
            )  # fmt: skip
        if edges is not None:
            streets.save_streets(store, edges, source="synthetic bench network", user="bench")
        auth.add_user(store, USER, PASSWORD, display_name="Bench", role="admin",
                      actor="bench", actor_role="admin")  # fmt: skip
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(db: Path, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the app on a free port; return the process and its URL once healthy."""
    port = _free_port()
    env = {**os.environ, "GIS_DB": str(db), "GIS_BASEMAP": "none", "GIS_LANG": "vi"}
    streamlit = shutil.which("streamlit", path=str(Path(sys.executable).parent)) or "streamlit"
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [streamlit, "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with {proc.returncode}; see {folder}/server.log")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the app did not become healthy within 90 s")


def memory_mb(pid: int) -> tuple[float, float]:
    """Current and peak resident memory of a process, in MB."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def drawn(page: Any, ready: str, timeout_s: float = 90) -> dict[str, Any]:
    """Wait until what the map draws (:data:`DRAWN_JS`) satisfies ``ready``, a JS predicate
    on it, looking up the map iframe afresh each time (a rerun may replace it)."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        for frame_el in page.locator(MAP_FRAME).all():
            try:
                frame = frame_el.element_handle(timeout=1_000).content_frame()
                value = frame.evaluate(DRAWN_JS) if frame is not None else None
                if value is not None and frame.evaluate(f"(v) => ({ready})", value):
                    return dict(value)
                last = value
            except sync_api.Error as e:  # an iframe replaced during a rerun: look again
                last = str(e)
        page.wait_for_timeout(50)
    raise RuntimeError(f"the map never showed {ready!r}; last seen: {last!r}")


def map_frame(page: Any) -> Any:
    """The current map iframe's document."""
    frame = page.locator(MAP_FRAME).last.element_handle().content_frame()
    assert frame is not None, "the map iframe has no document"
    return frame


def idle(page: Any) -> None:
    """Wait until Streamlit is not running the script (its status widget is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
    )


def browse(url: str) -> dict[str, float]:
    """Sign in, open the clearance map, zoom, pan, click a parcel, open the route page."""
    out: dict[str, float] = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1400})
            page.set_default_timeout(90_000)
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_label(t("auth.username")).fill(USER)
            page.get_by_label(t("auth.password"), exact=True).fill(PASSWORD)
            page.get_by_role("button", name=t("auth.submit")).click()
            page.get_by_role("button", name=t("auth.sign_out")).wait_for()

            start = time.monotonic()
            page.get_by_role("link", name=t("nav.clearance")).click()
            drawn(page, "v.cells > 0")
            out["open_s"] = time.monotonic() - start
            idle(page)

            frame = map_frame(page)
            centre = frame.evaluate("() => window.map.getCenter()")
            start = time.monotonic()
            frame.evaluate("([a, b]) => { window.map.setView([a, b], 18, {animate: false}); }",
                           [centre["lat"], centre["lng"]])  # fmt: skip
            first = set(drawn(page, "v.fids.length > 50 && v.zoom === 18")["fids"])
            out["zoom_ms"] = (time.monotonic() - start) * 1000
            idle(page)

            start = time.monotonic()
            map_frame(page).evaluate("() => { window.map.panBy([700, 0], {animate: false}); }")
            drawn(page, f"v.fids.filter((f) => !{sorted(first)}.includes(f)).length > 50")
            out["pan_ms"] = (time.monotonic() - start) * 1000
            idle(page)

            iframe = page.locator(MAP_FRAME).last
            box = iframe.bounding_box()
            assert box is not None, "the map is not on the page"
            spot: Any = {"x": box["width"] / 4, "y": box["height"] / 4}
            for dx in range(0, 200, 8):  # step off the alleys onto a lot
                iframe.hover(position={"x": spot["x"] + dx, "y": spot["y"]})
                if map_frame(page).locator(".leaflet-tooltip").count():
                    spot["x"] += dx
                    break
            label = map_frame(page).locator(".leaflet-tooltip").first.inner_text().splitlines()[0]
            start = time.monotonic()
            iframe.click(position=spot)
            map_frame(page).locator(".gis-parcel-popup").wait_for()
            out["click_popup_ms"] = (time.monotonic() - start) * 1000
            page.get_by_role("heading", name=label).first.wait_for()
            out["click_record_ms"] = (time.monotonic() - start) * 1000
            idle(page)

            start = time.monotonic()
            page.get_by_role("link", name=t("nav.route")).click()
            page.locator(MAP_FRAME).first.wait_for()
            idle(page)
            out["route_page_s"] = time.monotonic() - start
        finally:
            browser.close()
    return out


def run(parcels: gpd.GeoDataFrame | None = None, edges: gpd.GeoDataFrame | None = None,
        ) -> dict[str, float]:  # fmt: skip
    """Serve 100,000 parcels and a 50,000-edge network; drive the browser; read memory."""
    heading("The app in Chromium: 100,000 parcels and a 50,000-edge network")
    if not os.path.exists(CHROMIUM):
        print("  skipped: Chromium is not installed (/usr/bin/chromium)")
        return {}
    if parcels is None:
        from bench.mapview import ward_parcels

        parcels = ward_parcels()
    if edges is None:
        from bench.routing import synthetic_network

        edges = synthetic_network()
    folder = Path(tempfile.mkdtemp(prefix="gis-bench-app-"))
    proc = None
    try:
        start = time.monotonic()
        db = make_store(folder, parcels, edges)
        print(f"  store with {len(parcels):,} parcels and {len(edges):,} street segments: "
              f"{time.monotonic() - start:.1f} s")  # fmt: skip
        proc, url = serve(db, folder)
        figures = browse(url)
        rss, peak = memory_mb(proc.pid)
        figures |= {"rss_mb": rss, "rss_peak_mb": peak}
        print(f"  first open of the clearance map (reads 100,000 parcels): "
              f"{figures['open_s']:.1f} s")  # fmt: skip
        row("zoom to a block until parcels are drawn", figures["zoom_ms"], None, "ms")
        row("pan a screen until new parcels are drawn", figures["pan_ms"], None, "ms")
        row("click → parcel's attributes on screen", figures["click_popup_ms"], None, "ms",
            "≤ 200 ms")  # fmt: skip
        row("click → full record in the side panel", figures["click_record_ms"], None, "ms")
        print(f"  route page with the 50,000-edge graph: {figures['route_page_s']:.1f} s")
        row("server memory, peak resident", peak, None, "MB", "< 1,500 MB")
        return figures
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    print(run())
