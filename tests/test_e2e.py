"""End to end: the real server in headless Chromium, offline; sign in, click An Khánh, read the
panel.

Helpers for other end-to-end modules: :func:`add_account` makes an account in a store file
before the server starts, :func:`login` signs in through the form in the browser.
"""

from __future__ import annotations

import itertools
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
from typing import Any

import pytest
from playwright import sync_api

from geo import auth, clearance, demo, floods, routing, streets, wards
from geo.config import load_settings
from geo.errors import NotFoundError
from geo.store import open_store
from ui.i18n import t

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
PLANNER = "lan.nguyen"
"""The planner who signs in (an editor); the history and the audit log name this account."""
PLANNER_NAME = "Nguyễn Thị Lan"
PASSWORD = "mật khẩu thử e2e 2025"


def add_account(
    store_path: Path,
    username: str = PLANNER,
    role: str = "editor",
    *,
    password: str = PASSWORD,
    display_name: str = PLANNER_NAME,
) -> tuple[str, str]:
    """Make an account (an editor by default) in the store at ``store_path``, opening and
    migrating it if needed; return ``(username, password)`` for :func:`login`."""
    with open_store(str(store_path)) as store:
        try:
            store.get_user(username)
        except NotFoundError:
            auth.add_user(store, username, password, display_name=display_name, role=role,
                          actor="e2e", actor_role="admin")  # fmt: skip
    return username, password


def close_dialog(page: sync_api.Page) -> None:
    """Close Streamlit's "Page not found" dialog, if any: it comes over a deep link when a
    pages/ folder sits beside app.py (an empty one left in a checkout is enough), and would
    block the form."""
    if page.get_by_role("dialog").count():
        page.keyboard.press("Escape")
        page.get_by_role("dialog").wait_for(state="detached", timeout=10_000)


def login(page: sync_api.Page, username: str = PLANNER, password: str = PASSWORD) -> None:
    """Sign in through the form the app shows first, and wait until the app's pages are there
    (the sidebar's sign-out button)."""
    name = page.get_by_label(t("auth.username"))
    name.wait_for(timeout=60_000)
    close_dialog(page)
    name.fill(username)
    page.get_by_label(t("auth.password"), exact=True).fill(password)
    page.get_by_role("button", name=t("auth.submit")).click()
    page.get_by_role("button", name=t("auth.sign_out")).wait_for(timeout=60_000)


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
    add_account(tmp_path / "ward.gpkg")
    yield from _serve(tmp_path)


def _serve(tmp_path: Path) -> Iterator[str]:
    """Run ``streamlit run app.py`` on a free port with the store ``tmp_path/ward.gpkg``."""
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
            login(page)

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


def test_sign_in_opens_the_bookmarked_page_and_sign_out_closes_it(
    server: str, tmp_path: Path
) -> None:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(f"{server}/floods", wait_until="domcontentloaded")
            page.get_by_label(t("auth.username")).wait_for(timeout=60_000)
            close_dialog(page)
            page.get_by_label(t("auth.username")).fill(PLANNER)
            page.get_by_label(t("auth.password"), exact=True).fill("not the password")
            page.get_by_role("button", name=t("auth.submit")).click()
            page.get_by_text(t("auth.wrong")).wait_for()  # a wrong password opens nothing
            login(page)
            page.get_by_role("heading", name=t("fl.title")).wait_for()
            assert page.url.endswith("/floods")
            page.get_by_role("button", name=t("auth.sign_out")).click()
            page.get_by_text(t("auth.signed_out")).wait_for()
            assert not page.get_by_role("heading", name=t("fl.title")).count()
            page.reload()  # a new browser session: the token was never a cookie
            page.get_by_label(t("auth.username")).wait_for()
        finally:
            browser.close()
    with open_store(str(tmp_path / "ward.gpkg")) as store:
        actions = store.audit(actor=PLANNER)["action"].tolist()
    assert actions == ["logout", "login.success", "login.failure"]


# --- Site clearance: move a parcel on in the browser, see the map and the dashboard follow ---

DEMO_SEED = 2025
FILL_COLOUR_JS = """([fid, layer, colour]) => {
    if (!window.map) { return false; }  // the map of a fresh iframe is not built yet
    let found = null;
    window.map.eachLayer((l) => {
        const p = l.feature && l.feature.properties;
        // parcels drawn for the map's window carry their fid as "p" (ui/bigmap.py)
        const id = p && (p.fid !== undefined ? p.fid : p.p);
        if (p && id === fid && p.layer === layer) { found = l.options.fillColor; }
    });
    return found === colour;
}"""
STAGE_ROWS_JS = """([header, want]) => {
    // The stages table (a glide grid: its cells are mirrored in an accessible <table>),
    // once every stage has the wanted number of parcels; null until then.
    for (const table of document.querySelectorAll('[data-testid="stDataFrame"] table')) {
        const heads = Array.from(table.tHead.rows[0].cells, (c) => c.textContent);
        if (!heads.includes(header)) { continue; }
        const cells = (r) => Array.from(r.cells, (c) => c.textContent);
        const rows = Array.from(table.tBodies[0].rows, cells);
        const got = Object.fromEntries(rows.map((r) => [r[0], Number(r[1])]));
        return Object.entries(want).every(([k, v]) => got[k] === v) ? rows : null;
    }
    return null;
}"""


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[str]:
    """The app on a store that already holds the demo parcels (fixed seed)."""
    settings = load_settings({"GIS_BASEMAP": "none"})
    with open_store(str(tmp_path / "ward.gpkg")) as store:
        wards.seed_store(store, settings.profile)
        demo.install_demo(
            store,
            settings.profile,
            store.read_layer(wards.OLD_LAYER),
            store.read_layer(wards.NEW_LAYER),
            seed=DEMO_SEED,
        )
    add_account(tmp_path / "ward.gpkg")
    yield from _serve(tmp_path)


def _on_a_map(page: sync_api.Page, js: str, arg: object, want: object) -> list[object]:
    """Wait until ``js(arg)`` evaluated in a map iframe on the page returns ``want``; return
    the last values seen if it never does.

    While the page reruns, Streamlit may show the old map's iframe beside the new one, or
    swap one for the other, so every map iframe is looked up afresh on each try.
    """
    deadline = time.monotonic() + 30
    seen: list[object] = []
    while time.monotonic() < deadline:
        for iframe in page.locator('iframe[title="streamlit_folium.st_folium"]').all():
            try:
                frame = iframe.element_handle(timeout=1_000).content_frame()
                value = frame.evaluate(js, arg) if frame is not None else None
            except sync_api.Error as e:  # the iframe went away during a rerun
                value = e
            if value == want:
                return []
            seen.append(value)
        page.wait_for_timeout(200)
    return seen[-5:] or ["no map iframe"]


def _wait_for_fill(page: sync_api.Page, fid: int, layer: str, colour: str) -> None:
    """Wait until a map on the page draws parcel ``fid`` filled with ``colour``."""
    seen = _on_a_map(page, FILL_COLOUR_JS, [fid, layer, colour], True)
    assert not seen, f"parcel {fid} of {layer} is not filled with {colour} ({seen})"


def test_moving_a_parcel_on_updates_the_map_and_the_dashboard(
    demo_server: str, tmp_path: Path
) -> None:
    layer = clearance.DEMO_LAYER
    with open_store(str(tmp_path / "ward.gpkg")) as store:
        parcels = store.read_layer(layer)
        before = clearance.by_stage(parcels, "vi").set_index("stage")["parcels"]
        fid = int(sorted(parcels.index[parcels["stage"] == "kiem_dem"])[0])
        version = int(parcels.at[fid, "_version"])
    key = clearance.parcel_key(parcels.at[fid, "map_sheet"], parcels.at[fid, "parcel_no"])
    old, new = clearance.STAGE_BY_CODE["kiem_dem"], clearance.STAGE_BY_CODE["pa_du_thao"]

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(30_000)
            page.goto(demo_server, wait_until="domcontentloaded")
            login(page)
            page.get_by_role("link", name=t("nav.clearance")).click()
            page.get_by_text(t("cl.demo_banner")).wait_for()
            _wait_for_fill(page, fid, layer, old.color)

            picker = page.get_by_role("combobox", name=t("cl.pick"))
            picker.click()
            picker.fill(key)
            page.get_by_role("option", name=key, exact=True).click()
            page.get_by_role("tab", name=t("cl.tab.edit")).click()
            stage = page.get_by_role("combobox", name=t("cl.e.stage"))
            stage.click()
            page.get_by_role("option", name=new.vi, exact=True).click()
            page.get_by_role("button", name=t("cl.e.save")).click()

            # (a) the success message
            page.get_by_text(t("cl.e.saved", version=version + 1)).wait_for()
            # (b) the map fills the parcel with the new stage's colour
            _wait_for_fill(page, fid, layer, new.color)

            # (c) the dashboard's stages table counts the parcel at its new stage
            page.get_by_role("link", name=t("nav.progress")).click()
            page.get_by_text(t("db.title")).wait_for()
            expected = {
                s.vi: int(before[s.code]) + (s is new) - (s is old) for s in clearance.STAGES
            }
            rows = page.wait_for_function(
                STAGE_ROWS_JS, arg=[t("db.col.pct"), expected]
            ).json_value()
            assert {r[0]: int(r[1]) for r in rows} == expected
            assert not errors, errors
        finally:
            browser.close()

    with open_store(str(tmp_path / "ward.gpkg")) as store:
        feature = store.get_feature(layer, fid)
        last = store.history(layer, fid).iloc[-1]
    assert (feature.version, feature.props["stage"]) == (version + 1, new.code)
    assert last["changed_by"] == PLANNER


# --- Flooding: mark a flood on the map, see the route go around it ------------------------------

ROUTE_KINDS_JS = """() => {
    if (!window.map) { return null; }
    const kinds = [];
    window.map.eachLayer((l) => {
        const p = l.feature && l.feature.properties;
        if (p && p.layer === "routes") { kinds.push(p.kind); }
    });
    return kinds.length ? kinds.sort().join(",") : null;
}"""


def _route_kinds(page: sync_api.Page, want: str) -> None:
    """Wait until a map on the page draws exactly the route kinds ``want`` ("shortest" or
    "safe,shortest")."""
    seen = _on_a_map(page, ROUTE_KINDS_JS, None, want)
    assert not seen, f"expected routes {want!r} on the map, saw {seen}"


@pytest.fixture
def streets_server(tmp_path: Path, shared_data: Path) -> Iterator[str]:
    """The app on a store holding the real OSM sample (central HCMC) and no flood yet."""
    settings = load_settings({"GIS_BASEMAP": "none"})
    sample = shared_data / "osm" / "hcmc_district3_sample.osm"
    with open_store(str(tmp_path / "ward.gpkg")) as store:
        wards.seed_store(store, settings.profile)
        edges = streets.edges_frame(streets.read_streets(sample))
        streets.save_streets(store, edges, source="OpenStreetMap: sample", user="test")
    add_account(tmp_path / "ward.gpkg")
    yield from _serve(tmp_path)


def _nkkn_trip(tmp_path: Path) -> tuple[tuple[float, float], tuple[float, float], str, Any]:
    """Two points on Nam Kỳ Khởi Nghĩa whose shortest route runs along it, and one of the
    street's longest segments inside that route (its id and line)."""
    with open_store(str(tmp_path / "ward.gpkg")) as store:
        edges = store.read_layer(streets.STREETS_LAYER)
    graph = routing.StreetGraph(edges)
    nkkn = edges[edges["name"] == "Nam Kỳ Khởi Nghĩa"]
    starts = [n for n in nkkn["u"].astype(int) if n in graph.core]
    best: tuple[float, Any, Any, Any] | None = None
    for a, b in itertools.combinations(starts, 2):
        for origin, destination in ((a, b), (b, a)):
            route = graph.route(graph.coords[origin], graph.coords[destination])
            own = [s for s, n in zip(route.segment_ids, route.names, strict=True)
                   if n == "Nam Kỳ Khởi Nghĩa"]  # fmt: skip
            along = len(own) >= 4 and len(own) == len(route.segment_ids)
            if along and (best is None or route.length_m > best[0]):
                best = (route.length_m, origin, destination, own)
    assert best is not None, "no stretch of Nam Kỳ Khởi Nghĩa to drive along"
    _, origin, destination, own = best
    by_id = edges.set_index("segment_id")
    inner = own[1:-1]  # not at either end of the trip: the detour must leave the street
    middle = max(inner, key=lambda s: float(by_id.loc[s, "length_m"]))  # a click lands on it
    return graph.coords[origin], graph.coords[destination], middle, by_id.loc[middle, "geometry"]


def test_marking_a_flood_changes_the_route(streets_server: str, tmp_path: Path) -> None:
    (o_lon, o_lat), (d_lon, d_lat), segment, line = _nkkn_trip(tmp_path)
    click = line.interpolate(0.5, normalized=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1600})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(30_000)
            page.goto(streets_server, wait_until="domcontentloaded")
            login(page)

            # 1. the route along Nam Kỳ Khởi Nghĩa, before any flood
            page.get_by_role("link", name=t("nav.route")).click()
            for name, (lat, lon) in (("rt.origin", (o_lat, o_lon)),
                                     ("rt.destination", (d_lat, d_lon))):  # fmt: skip
                box = page.get_by_role("textbox", name=t(name))
                box.fill(f"{lat:.7f},{lon:.7f}")
                box.press("Enter")
            page.get_by_text(t("rt.clear_route")).wait_for()
            _route_kinds(page, "shortest")

            # 2. mark the middle of that stretch flooded and closed, with a click on the map
            page.get_by_role("link", name=t("nav.floods")).click()
            iframe = page.locator('iframe[title="streamlit_folium.st_folium"]')
            iframe.wait_for(state="visible", timeout=60_000)
            frame = iframe.element_handle().content_frame()
            assert frame is not None
            frame.wait_for_function("() => !!window.map")
            # the map component reports its first state and the page reruns once; a click
            # during that rerun is lost with the old map, so let the page settle first
            page.wait_for_timeout(2_000)
            iframe = page.locator('iframe[title="streamlit_folium.st_folium"]')
            frame = iframe.element_handle().content_frame()
            assert frame is not None
            frame.wait_for_function("() => !!window.map")
            # close in on the segment (as a planner would zoom in), so that a pixel is a
            # fraction of a metre and the click cannot land on a street alongside; the click
            # is placed relative to the map itself, wherever the page has scrolled to by then
            x, y = frame.evaluate(
                "([lat, lon]) => { window.map.setView([lat, lon], 19, {animate: false});"
                " const p = window.map.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
                [click.y, click.x],
            )
            box = iframe.bounding_box()
            assert box is not None
            assert box["y"] + y < page.viewport_size["height"]  # the spot is on screen
            page.mouse.click(box["x"] + x, box["y"] + y)
            form = page.locator('[data-testid="stForm"]').first
            form.get_by_text(t("fl.effect.closed"), exact=True).click()
            form.get_by_role("button", name=t("fl.f.save")).click()
            page.get_by_text(t("fl.mark.saved", fid=1, street="Nam Kỳ Khởi Nghĩa")).wait_for()

            # 3. the same trip now goes around the closed segment
            page.get_by_role("link", name=t("nav.route")).click()
            page.get_by_text(t("rt.blocked", n=1)).wait_for()
            _route_kinds(page, "safe,shortest")
            assert not errors, errors
        except (AssertionError, sync_api.Error):
            page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)  # for the log
            raise
        finally:
            browser.close()

    with open_store(str(tmp_path / "ward.gpkg")) as store:
        report = store.get_feature(floods.REPORTS_LAYER, 1)
    assert segment in report.props["segment_ids"]
    assert report.props["effect"] == "closed"
    assert report.props["reporter"] == PLANNER
