"""End to end at scale: 100,000 parcels on the clearance map, in headless Chromium.

The app must use its fast path for real: zoomed out the map shows a grid of counts, zoomed in
it shows the window's parcels, and panning brings other parcels in, each time from the server
(the page reruns with the map's new bounds). A click on a parcel opens its record.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api

from bench.app import drawn, idle, make_store, map_frame
from bench.mapview import ward_parcels
from geo import clearance
from geo.store import open_store
from tests.test_e2e import CHROMIUM, CHROMIUM_ARGS, _serve, add_account, login
from ui.i18n import t

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium not installed")

N_PARCELS = 100_000


@pytest.fixture(scope="module")
def scale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app on a store holding 100,000 synthetic parcels as the demo layer."""
    folder = tmp_path_factory.mktemp("scale")
    make_store(folder, ward_parcels(N_PARCELS), None)  # the benchmark's store
    add_account(folder / "ward.gpkg")  # an editor: the app opens only after signing in
    for url in _serve(folder):
        yield url, folder


def test_panning_across_100000_parcels_brings_the_window_s_parcels(
    scale_server: tuple[str, Path],
) -> None:
    url, folder = scale_server
    with open_store(str(folder / "ward.gpkg")) as store:
        assert store.layer_info(clearance.DEMO_LAYER).feature_count == N_PARCELS
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # tall enough that the whole map shows without scrolling: a click scrolled into
            # view lands off by the scroll (Streamlit scrolls smoothly)
            page = browser.new_page(viewport={"width": 1440, "height": 1400})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(60_000)
            page.goto(f"{url}/clearance", wait_until="domcontentloaded")
            login(page)  # the bookmarked page opens after signing in
            page.get_by_text(t("cl.demo_banner")).wait_for(timeout=120_000)

            # Zoomed out over the ward: a grid of counts, no parcel shapes.
            whole = drawn(page, "v.cells > 0 && v.fids.length === 0", timeout_s=120)
            assert whole["cells"] < 2000

            # Zoom to a block: the page reruns with the new bounds and draws parcels.
            frame = map_frame(page)
            centre = frame.evaluate("() => window.map.getCenter()")
            frame.evaluate(
                "([lat, lng]) => { window.map.setView([lat, lng], 18, {animate: false}); }",
                [centre["lat"], centre["lng"]],
            )
            block = drawn(page, "v.fids.length > 50 && v.zoom === 18")
            first = set(block["fids"])  # type: ignore[arg-type]
            assert len(first) <= 8000

            # Pan a screen east: other parcels come in from the server.
            frame = map_frame(page)
            frame.evaluate("() => { window.map.panBy([900, 0], {animate: false}); }")
            moved = drawn(
                page,
                f"v.fids.length > 50 && v.fids.filter((f) => !{sorted(first)}.includes(f))"
                ".length > 50",
            )
            second = set(moved["fids"])  # type: ignore[arg-type]
            assert second - first, "no new parcel appeared after the pan"

            # A click on a parcel opens its record: the one whose label the pointer shows.
            # (The pointer goes to the middle of the map's upper left quarter, clear of the
            # legend and the layer control; the parcel under it is whichever the map drew.)
            idle(page)
            iframe = page.locator('iframe[title="streamlit_folium.st_folium"]').last
            box = iframe.bounding_box()
            assert box is not None
            spot = {"x": box["width"] / 4, "y": box["height"] / 4}
            label = ""
            for dx in range(0, 200, 8):  # alleys run between the lots: step until on one
                iframe.hover(position={"x": spot["x"] + dx, "y": spot["y"]})
                tip = map_frame(page).locator(".leaflet-tooltip")
                if tip.count():
                    label = tip.first.inner_text().splitlines()[0]
                    spot["x"] += dx
                    break
            assert "/" in label, f"no parcel under the pointer ({label!r})"
            sheet, number = label.split("/")
            with open_store(str(folder / "ward.gpkg")) as store:
                frame = store.read_layer(clearance.DEMO_LAYER, columns=["map_sheet", "parcel_no",
                                                                        "holder"])  # fmt: skip
            hit = frame[(frame["map_sheet"] == sheet) & (frame["parcel_no"] == number)]
            assert len(hit) == 1
            start = time.monotonic()
            iframe.click(position=spot)
            # at once: what the map holds (sheet/parcel, stage, person, deadline, flags)
            popup = map_frame(page).locator(".gis-parcel-popup")
            popup.wait_for()
            shown = time.monotonic()
            lines = popup.inner_text().splitlines()
            assert lines[0] == label and lines[-1] == t("big.opening")
            assert f"{clearance.FIELD_BY_NAME['responsible'].label('vi')}: " in popup.inner_text()
            # then the record itself, from the server
            heading = f"{label} · {hit['holder'].iloc[0]}"
            page.get_by_role("heading", name=heading).wait_for()
            print(
                f"click to attributes on screen: {(shown - start) * 1000:.0f} ms; "
                f"to the full record: {(time.monotonic() - start) * 1000:.0f} ms"
            )
            assert not errors, errors
        finally:
            browser.close()
