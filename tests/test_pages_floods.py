"""AppTest runs of the flooding page (views/floods.py) and the route page (views/route.py).

The street network is the real OpenStreetMap sample of central HCMC (../shared/data/osm),
stored once per module in a template GeoPackage beside the seeded ward layers and copied for
each test. Flood reports are added through :func:`geo.floods.add_report` with observation times
relative to :func:`geo.floods.now_local`, so the "now" the pages show always sees them.

AppTest cannot click inside the folium map (an iframe component); a click is what
streamlit-folium sends back, written into the session state as the page reads it.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from geo import cap, floods, routing, streets, wards
from geo.config import load_settings
from geo.store import Store, open_store
from tests.accounts import sign_in
from ui import flood_panels as panels
from ui.i18n import fmt_num, t
from ui.parcels import md

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 60
PAGES = {"floods": "views/floods.py", "route": "views/route.py"}
NKKN = "Nam Kỳ Khởi Nghĩa"
TWO_WAY = "Phạm Ngọc Thạch"
PROGRAMME = ("Đường số 12", "Quốc Hương", "Nguyễn Văn Hưởng")
USER = "nguyen.van.an"
"""The signed-in planner's username, written to the reports, the history and the audit log."""
OTHER = "Trần Thị Bình"
XSS = "<script>alert(1)</script>"

Start = Callable[..., AppTest]


# --- the network ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """The sample's segments, their index and graph, and a run along Nam Kỳ Khởi Nghĩa."""

    edges: gpd.GeoDataFrame
    index: floods.SegmentIndex
    graph: routing.StreetGraph
    nkkn_nodes: list[int]
    nkkn_segments: list[str]

    def lonlat(self, node: int) -> tuple[float, float]:
        return self.graph.coords[node]

    def latlon_text(self, node: int) -> str:
        lon, lat = self.lonlat(node)
        return f"{lat:.7f},{lon:.7f}"

    def length(self, segment: str) -> float:
        return float(self.edges.set_index("segment_id").loc[segment, "length_m"])

    def midpoint(self, segment: str) -> tuple[float, float]:
        line = self.edges.set_index("segment_id").loc[segment, "geometry"]
        point = line.interpolate(0.5, normalized=True)
        return point.x, point.y


def _along_nkkn(edges: gpd.GeoDataFrame, graph: routing.StreetGraph) -> tuple[list[int], list[str]]:
    """Nam Kỳ Khởi Nghĩa between its first and last crossing joined to the rest of the network
    both ways, in its one-way direction (as tests/test_streets_routing.py finds it)."""
    own = edges[edges["name"] == NKKN]
    line = nx.DiGraph()
    for row in own.itertuples(index=False):
        line.add_edge(int(row.u), int(row.v), segment=row.segment_id, length=row.length_m)
    best: list[int] = []
    for start in line.nodes:
        lengths, paths = nx.single_source_dijkstra(line, start, weight="length")
        end = max(lengths, key=lambda n: lengths[n])
        if len(paths[end]) > len(best):
            best = paths[end]
    other = edges[edges["name"] != NKKN]
    leaves = set(other["u"]) & graph.core
    enters = set(other["v"]) & graph.core
    first = next(i for i, n in enumerate(best) if n in leaves)
    last = max(i for i, n in enumerate(best) if n in enters)
    run = best[first : last + 1]
    segments = [line[u][v]["segment"] for u, v in itertools.pairwise(run)]
    assert len(segments) >= 5
    return run, segments


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty config file: a developer's own gis.toml stays out of the tests."""
    path = tmp_path_factory.mktemp("config") / "gis.toml"
    path.write_text("", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def osm_file(shared_data: Path) -> Path:
    path = shared_data / "osm" / "hcmc_district3_sample.osm"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def network(osm_file: Path) -> Network:
    edges = streets.edges_frame(streets.read_streets(osm_file))
    graph = routing.StreetGraph(edges)
    nodes, segments = _along_nkkn(edges, graph)
    return Network(edges, floods.SegmentIndex(edges), graph, nodes, segments)


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, config_file: Path, network: Network, osm_file: Path
) -> Path:
    """The ward layers and the street network of the sample, made once per module."""
    path = tmp_path_factory.mktemp("floods") / "template.gpkg"
    settings = load_settings({"GIS_CONFIG": str(config_file), "GIS_BASEMAP": "none"})
    with open_store(str(path)) as store:
        wards.seed_store(store, settings.profile)
        count = streets.save_streets(
            store, network.edges, source=f"OpenStreetMap: {osm_file.name}", user="test"
        )
    assert count == len(network.edges)
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where this test's store lives."""
    return tmp_path / "ward.gpkg"


@pytest.fixture
def with_streets(db: Path, template: Path) -> Path:
    """This test's store, a copy of the template (ward layers and streets)."""
    shutil.copyfile(template, db)
    return db


@pytest.fixture
def start(db: Path, monkeypatch: pytest.MonkeyPatch, config_file: Path) -> Start:
    """Run the app on a page: ``start(page, lang="vi", role=None)``.

    The store is whatever ``db`` holds (the ``with_streets`` fixture copies the template; with
    no file the app seeds the ward layers only).
    """

    def run(page: str = "floods", *, lang: str = "vi", role: str | None = None) -> AppTest:
        monkeypatch.setenv("GIS_CONFIG", str(config_file))
        monkeypatch.setenv("GIS_DB", str(db))
        monkeypatch.setenv("GIS_BASEMAP", "none")
        for name in ("GIS_LANG", "GIS_WARD", "GIS_ROLE", "GIS_ANONYMOUS_READ"):
            monkeypatch.delenv(name, raising=False)
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        _share_components(at)
        sign_in(at, db, role or "editor", USER)
        at.switch_page(PAGES[page]).run()  # straight to the page: the map page is not tested here
        assert not at.exception, at.exception
        if lang != "vi":
            at.radio(key="lang").set_value(lang).run()
            assert not at.exception, at.exception
        return at

    return run


# --- helpers ------------------------------------------------------------------------------------


_COMPONENTS: list[Any] = []


def _share_components(at: AppTest) -> None:
    """Scan the installed packages for components once per module, not once per AppTest
    (about 0.4 s each); AppTest keeps the registry in a private attribute, so this only
    speeds things up where that attribute exists."""
    if not hasattr(at, "_bidi_component_manager"):
        return
    if not _COMPONENTS:
        from streamlit.components.v2.component_manager import BidiComponentManager

        manager = BidiComponentManager()
        manager.discover_and_register_components(start_file_watching=False)
        _COMPONENTS.append(manager)
    at._bidi_component_manager = _COMPONENTS[0]


@contextmanager
def _other_planner(db: Path) -> Iterator[Store]:
    """A second connection to the store, as another planner (or the CLI) would have."""
    with open_store(str(db)) as store:
        yield store


def _reports(db: Path) -> gpd.GeoDataFrame:
    with _other_planner(db) as store:
        return floods.read_reports(store)


def _report(
    db: Path,
    snap: floods.Snap,
    *,
    depth: float | None,
    effect: str = "passable",
    ago: timedelta = timedelta(minutes=30),
    end_ago: timedelta | None = None,
    source: str = "field_officer",
    note: str = "",
    user: str = OTHER,
) -> int:
    """A report observed ``ago`` before now (ended ``end_ago`` before now, if given)."""
    now = floods.now_local()
    with _other_planner(db) as store:
        fid = floods.add_report(
            store, snap, user=user, role="editor", depth_cm=depth, observed_at=now - ago,
            source=source, effect=effect, note=note,
        )  # fmt: skip
        if end_ago is not None:
            version = store.get_feature(floods.REPORTS_LAYER, fid).version
            floods.end_report(store, fid, expected_version=version, user=user, role="editor",
                              at=now - end_ago, reason="nước đã rút")  # fmt: skip
    return fid


def _blank(value: Any) -> bool:
    """A property not set (None, or NaN where other rows of the frame have a value)."""
    return value is None or value == "" or (not isinstance(value, str) and bool(pd.isna(value)))


def _texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success",
                 "warning", "error"):  # fmt: skip
        parts += [str(el.value) for el in getattr(at, kind)]
    return "\n".join(parts)


def _metric(at: AppTest, key: str, lang: str = "vi") -> str:
    values = {m.label: m.value for m in at.metric}
    return str(values[t(key, lang)])


def _frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe on the page that has ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _button(at: AppTest, label: str) -> Any:
    (button,) = [b for b in at.button if b.label == label]
    return button


def _click(at: AppTest, label: str) -> AppTest:
    _button(at, label).click().run()
    assert not at.exception, at.exception
    return at


def _pending(snap: floods.Snap) -> dict[str, Any]:
    """What the page keeps after a click on the map snapped to a street (``on_click``)."""
    return {"ids": list(snap.segment_ids), "name": snap.name, "lon": snap.point.x,
            "lat": snap.point.y, "distance": snap.distance_m, "marked_as": "point"}  # fmt: skip


def _snap_on(network: Network, street: str, nth: int = 0) -> floods.Snap:
    """A click on the middle of the ``nth`` segment of ``street``."""
    segment = network.edges.loc[network.edges["name"] == street, "segment_id"].iloc[nth]
    return network.index.snap(*network.midpoint(segment))


def _pick(at: AppTest, fid: int) -> AppTest:
    at.selectbox(key="fl_pick").set_value(fid).run()
    assert not at.exception, at.exception
    return at


def _rendered_markdown(at: AppTest) -> list[str]:
    """Everything the page renders as Markdown (markdown and captions)."""
    return [str(el.value) for kind in ("markdown", "caption") for el in getattr(at, kind)]


def _map_component(at: AppTest) -> Any:
    (component,) = [
        el
        for el in at.get("component_instance")
        if el.proto.component_name == "streamlit_folium.st_folium"
    ]
    return component


def _map_click(at: AppTest, lon: float, lat: float) -> AppTest:
    """What streamlit-folium sends back when the map is clicked at (lon, lat)."""
    key = json.loads(_map_component(at).proto.json_args)["key"]
    at.session_state[key] = {"last_clicked": {"lat": lat, "lng": lon}}
    at.run()
    return at


def _map_text(at: AppTest) -> str:
    """The folium map's HTML and script as the component receives them, ``\\uXXXX`` decoded."""
    args = json.loads(_map_component(at).proto.json_args)
    text = "\n".join(str(args[k]) for k in ("header", "html", "script"))
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The in-memory media stores AppTest creates for each run (download buttons' files)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import app_test

    stores: list[Any] = []

    class Recording(MemoryMediaFileStorage):
        def __init__(self, endpoint: str) -> None:
            super().__init__(endpoint)
            stores.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Recording)
    return stores


def _download(at: AppTest, media: list[Any], key: str) -> tuple[bytes, str | None]:
    (button,) = [b for b in at.get("download_button") if b.key == key]
    file = media[-1].get_file(button.proto.url.rsplit("/", 1)[-1])
    return file.content, file.filename


# --- 1. no street network -----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["floods", "route"])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_without_a_street_network_the_pages_offer_the_import(
    start: Start, page: str, lang: str
) -> None:
    at = start(page, lang=lang)
    assert at.title[0].value == t("fl.title" if page == "floods" else "rt.title", lang)
    assert [i.value for i in at.info] == [t("fl.no_streets", lang)]
    prefix = "fl_streets" if page == "floods" else "rt_streets"
    assert at.file_uploader(key=f"{prefix}_osm").label == t("fl.streets.upload", lang)
    assert at.button(key=f"{prefix}_import").label == t("fl.streets.import", lang)
    assert at.button(key=f"{prefix}_import").disabled  # nothing uploaded yet
    assert at.button(key=f"{prefix}_fetch").label == t("fl.streets.fetch", lang)
    assert at.button(key=f"{prefix}_sample").label == t("fl.streets.sample", lang)
    assert not at.metric
    assert not at.tabs
    assert not at.error


def test_importing_the_osm_file_builds_the_network(
    start: Start, db: Path, osm_file: Path, network: Network
) -> None:
    at = start()
    at.file_uploader(key="fl_streets_osm").set_value(
        (osm_file.name, osm_file.read_bytes(), "application/xml")
    ).run()
    assert not at.button(key="fl_streets_import").disabled
    at.button(key="fl_streets_import").click().run()
    assert not at.exception, at.exception
    assert not at.error
    with _other_planner(db) as store:
        info = store.layer_info(streets.STREETS_LAYER)
    assert info.feature_count == len(network.edges)
    assert info.source == f"OpenStreetMap: {osm_file.name}"
    assert [s.value for s in at.success] == [t("fl.streets.done", n=len(network.edges))]
    assert t("fl.no_streets") not in _texts(at)
    assert _metric(at, "fl.m.segments") == "0"


def test_a_viewer_cannot_import_streets(start: Start, db: Path, osm_file: Path) -> None:
    at = start(role="viewer")
    at.file_uploader(key="fl_streets_osm").set_value(
        (osm_file.name, osm_file.read_bytes(), "application/xml")
    ).run()
    at.button(key="fl_streets_import").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("fl.e.viewer")]
    at.button(key="fl_streets_sample").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("fl.e.viewer")]
    with _other_planner(db) as store:
        assert not store.has_layer(streets.STREETS_LAYER)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_sample_network_is_labelled_as_a_sample(
    start: Start, db: Path, network: Network, lang: str
) -> None:
    at = start("route", lang=lang)
    at.button(key="rt_streets_sample").click().run()
    assert not at.exception, at.exception
    with _other_planner(db) as store:
        info = store.layer_info(streets.STREETS_LAYER)
    assert streets.is_sample(info)
    assert info.feature_count == len(network.edges)  # the same OpenStreetMap file
    assert t("fl.streets.done", lang, n=len(network.edges)) in [s.value for s in at.success]
    assert [w.value for w in at.warning] == [t("fl.streets.sample_banner", lang)]
    assert [i.value for i in at.info] == [t("rt.click_origin", lang)]
    at.switch_page(PAGES["floods"]).run()
    assert not at.exception
    assert t("fl.streets.sample_banner", lang) in [w.value for w in at.warning]
    assert _metric(at, "fl.m.segments", lang) == "0"


def test_a_file_that_is_not_osm_is_refused_with_a_reason(start: Start, db: Path) -> None:
    at = start()
    at.file_uploader(key="fl_streets_osm").set_value(
        ("duong.osm", b"<html><body>not osm</body></html>", "application/xml")
    ).run()
    at.button(key="fl_streets_import").click().run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith(t("fl.e.osm", error=""))
    assert "duong.osm" in error and "upload.osm" not in error  # the user's file name
    with _other_planner(db) as store:
        assert not store.has_layer(streets.STREETS_LAYER)


# --- 2. streets, no reports ---------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_streets_without_reports(
    start: Start, with_streets: Path, network: Network, media: list[Any], lang: str
) -> None:
    at = start(lang=lang)
    assert at.title[0].value == t("fl.title", lang)
    assert t("fl.intro", lang) in _texts(at)
    assert not at.info  # not the "no streets" message, not a past moment
    assert _metric(at, "fl.m.segments", lang) == "0"
    assert _metric(at, "fl.m.streets", lang) == "0"
    assert _metric(at, "fl.m.closed", lang) == "0"
    assert _metric(at, "fl.m.deepest", lang) == "–"
    assert _metric(at, "fl.m.length", lang) == "0 m"
    tabs = [tab.label for tab in at.tabs]
    assert tabs == [t(f"fl.tab.{n}", lang) for n in ("mark", "reports", "history", "prone",
                                                     "feed")]  # fmt: skip
    texts = _texts(at)
    for key in ("fl.mark.hint", "fl.reports.none", "fl.history.none"):
        assert t(key, lang) in texts
    assert at.radio(key="fl_mode").value == "now"
    assert at.radio(key="fl_mark_mode").options == [t(f"fl.mark_mode.{m}", lang)
                                                    for m in ("point", "stretch")]  # fmt: skip
    assert not [s for s in at.selectbox if s.key == "fl_pick"]
    info = t("fl.streets.info", lang, n=fmt_num(len(network.edges), lang), source="", when="")
    assert info.split("·")[0] in texts
    # the ward's programme: its streets are not in this sample (District 3, not An Khánh)
    markdown = [m.value for m in at.markdown]
    assert f"**{t('fl.prone.programme', lang, ward='An Khánh')}**" in markdown
    for street in PROGRAMME:
        assert f"{md(street)} · {t('fl.prone.missing', lang)}" in markdown
    # the feed: no floods, still a valid GeoJSON and CAP document
    assert t("fl.feed.intro", lang, n=0, features=0, when="")[:12] in texts
    feed = json.loads(_download(at, media, "fl_feed_geojson")[0])
    assert feed["features"] == [] and feed["count"] == 0
    if [b for b in at.get("download_button") if b.key == "fl_feed_cap"]:
        cap.validate_cap(_download(at, media, "fl_feed_cap")[0])
    assert not at.error


# --- 3. two live reports ------------------------------------------------------------------------


@pytest.fixture
def two_reports(with_streets: Path, network: Network) -> tuple[int, int]:
    """35 cm, passable, on a two-way street; closed (depth unknown) on Nam Kỳ Khởi Nghĩa."""
    two_way = _snap_on(network, TWO_WAY)
    assert len(two_way.segment_ids) == 2  # both directions
    nkkn = _snap_on(network, NKKN, 3)
    assert len(nkkn.segment_ids) == 1  # one way
    first = _report(with_streets, two_way, depth=35, ago=timedelta(minutes=40))
    second = _report(with_streets, nkkn, depth=None, effect="closed", source="camera")
    return first, second


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_two_live_reports_in_the_figures_the_list_and_the_feed(
    start: Start, network: Network, two_reports: tuple[int, int], media: list[Any], lang: str
) -> None:
    at = start(lang=lang)
    two_way, nkkn = _snap_on(network, TWO_WAY), _snap_on(network, NKKN, 3)
    assert _metric(at, "fl.m.segments", lang) == "2"  # three directed segments, two stretches
    assert _metric(at, "fl.m.streets", lang) == "2"
    assert _metric(at, "fl.m.closed", lang) == "1"
    assert _metric(at, "fl.m.deepest", lang) == "35 cm"  # the closed one has no depth
    length = max(network.length(s) for s in two_way.segment_ids) + network.length(
        nkkn.segment_ids[0]
    )
    assert _metric(at, "fl.m.length", lang) == f"{fmt_num(round(length, 1), lang)} m"

    table = _frame_with(at, t("fl.r.status", lang))
    assert sorted(table["#"]) == sorted(two_reports)
    assert set(table[t("fl.r.status", lang)]) == {t("fl.status.live", lang)}
    rows = table.set_index("#")
    first, second = two_reports
    assert rows.loc[first, t("fl.r.street", lang)] == TWO_WAY
    assert rows.loc[first, t("fl.r.depth", lang)] == 35
    assert rows.loc[first, t("fl.r.effect", lang)] == t("fl.effect.passable", lang)
    assert rows.loc[second, t("fl.r.street", lang)] == NKKN
    assert pd.isna(rows.loc[second, t("fl.r.depth", lang)])
    assert rows.loc[second, t("fl.r.effect", lang)] == t("fl.effect.closed", lang)
    assert rows.loc[second, t("fl.r.source", lang)] == t("fl.source.camera", lang)
    assert not rows[t("fl.r.confirmed", lang)].any()
    pick = at.selectbox(key="fl_pick")
    assert list(table["#"]) == [second, first]  # the latest observation first
    assert pick.options == [t("fl.r.pick_none", lang), f"#{second} · {NKKN}",
                            f"#{first} · {TWO_WAY}"]  # fmt: skip
    # the street history lists both streets
    assert set(at.selectbox(key="fl_history_street").options) == {TWO_WAY, NKKN}

    # the feed for the operations centre
    buttons = {b.key: b for b in at.get("download_button")}
    assert set(buttons) == {"fl_feed_geojson", "fl_feed_cap"}
    assert buttons["fl_feed_geojson"].proto.label == t("fl.feed.geojson", lang)
    assert buttons["fl_feed_cap"].proto.label == t("fl.feed.cap", lang)

    data, name = _download(at, media, "fl_feed_geojson")
    assert name and name.startswith("ngap-an-khanh-") and name.endswith(".geojson")
    feed = json.loads(data)
    expected = {*two_way.segment_ids, *nkkn.segment_ids}
    assert {f["id"] for f in feed["features"]} == expected
    closed = {f["id"] for f in feed["features"] if f["properties"]["closed"]}
    assert closed == set(nkkn.segment_ids)
    assert feed["ward"] == "Phường An Khánh"

    alert, name = _download(at, media, "fl_feed_cap")
    assert name and name.startswith("cap-an-khanh-") and name.endswith(".xml")
    cap.validate_cap(alert)  # the OASIS CAP 1.2 schema
    text = alert.decode("utf-8")
    assert NKKN in text and TWO_WAY in text
    assert not at.error


# --- 4. marking a flood -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_marking_a_flood_records_the_report(
    start: Start, with_streets: Path, network: Network, lang: str
) -> None:
    at = start(lang=lang)
    snap = _snap_on(network, TWO_WAY, 2)
    at.session_state["fl_pending"] = _pending(snap)
    at.run()
    assert not at.exception
    assert t("fl.mark.at", lang, street=md(TWO_WAY), n=2) in [m.value for m in at.markdown]
    box = at.checkbox(key="fl_confirmed")  # an editor may not confirm
    assert box.disabled and box.help == t("fl.f.confirm_role", lang)
    at.number_input(key="fl_depth").set_value(45)
    at.selectbox(key="fl_source").set_value("camera")
    at.radio(key="fl_effect").set_value("closed")
    at.text_area(key="fl_note").input(XSS)
    _click(at, t("fl.f.save", lang))

    reports = _reports(with_streets)
    assert len(reports) == 1
    fid = int(reports.index[0])
    report = reports.loc[fid]
    assert float(report["depth_cm"]) == 45.0
    assert report["source"] == "camera"
    assert report["effect"] == "closed"
    assert report["note"] == XSS  # stored as typed
    assert report["reporter"] == USER
    assert sorted(floods.segment_list(report["segment_ids"])) == sorted(snap.segment_ids)
    assert report["street"] == TWO_WAY
    assert report["marked_as"] == "point"
    assert floods.parse_time(report["observed_at"], "t") <= floods.now_local()
    assert _blank(report["confirmed_at"])
    assert [s.value for s in at.success] == [t("fl.mark.saved", lang, fid=fid, street=TWO_WAY)]
    assert t("fl.mark.hint", lang) in _texts(at)  # the form is done
    assert _metric(at, "fl.m.segments", lang) == "1"
    assert _metric(at, "fl.m.closed", lang) == "1"
    assert _metric(at, "fl.m.deepest", lang) == "45 cm"

    # the note never reaches the page as HTML: not in Markdown, not in the map's popups
    _pick(at, fid)
    assert t("fl.r.note", lang, note=md(XSS)) in [c.value for c in at.caption]
    assert t("fl.r.meta", lang, who=md(USER), version=1) in [c.value for c in at.caption]
    assert not [m for m in _rendered_markdown(at) if "<script>" in m]
    assert XSS not in _map_text(at)
    assert html.escape(XSS) in _map_text(at)  # the popup shows it as text


def test_a_click_on_the_map_snaps_to_the_nearest_street(
    start: Start, with_streets: Path, network: Network
) -> None:
    at = start()
    segment = network.edges.loc[network.edges["name"] == TWO_WAY, "segment_id"].iloc[2]
    lon, lat = network.midpoint(segment)
    _map_click(at, lon + 0.00003, lat)  # about 3 m beside the street
    assert not at.exception, at.exception
    pending = at.session_state["fl_pending"]
    assert pending["name"] == TWO_WAY
    assert sorted(pending["ids"]) == network.index.with_twins([segment])
    assert 0 < pending["distance"] < 10
    assert t("fl.mark.at", street=md(TWO_WAY), n=2) in [m.value for m in at.markdown]
    assert at.number_input(key="fl_depth").value == 30

    _map_click(at, 106.75, 10.80)  # kilometres from any street of the sample
    assert not at.exception
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith(t("fl.mark.miss", error=""))
    assert "40 m" in warning
    assert t("fl.mark.hint") in _texts(at)
    assert not [n for n in at.number_input if n.key == "fl_depth"]


def test_marking_a_stretch_with_two_clicks(
    start: Start, with_streets: Path, network: Network
) -> None:
    at = start()
    at.radio(key="fl_mark_mode").set_value("stretch").run()
    nodes = network.nkkn_nodes
    _map_click(at, *network.lonlat(nodes[1]))
    assert not at.exception, at.exception
    assert t("fl.mark.second") in [i.value for i in at.info]
    _map_click(at, *network.lonlat(nodes[4]))
    assert not at.exception, at.exception
    pending = at.session_state["fl_pending"]
    assert pending["marked_as"] == "line"
    assert set(network.nkkn_segments[1:4]) <= set(pending["ids"])
    assert pending["name"] == NKKN
    _click(at, t("fl.f.save"))
    (report,) = [r for _, r in _reports(with_streets).iterrows()]
    assert report["marked_as"] == "line"
    assert set(floods.segment_list(report["segment_ids"])) == set(pending["ids"])
    assert _metric(at, "fl.m.segments") == fmt_num(len(pending["ids"]))


# --- 5. roles ---------------------------------------------------------------------------------


def test_a_viewer_may_neither_mark_nor_end(
    start: Start, with_streets: Path, network: Network
) -> None:
    fid = _report(with_streets, _snap_on(network, NKKN, 3), depth=35)
    at = start(role="viewer")
    at.session_state["fl_pending"] = _pending(_snap_on(network, TWO_WAY))
    at.run()
    assert at.checkbox(key="fl_confirmed").disabled
    _click(at, t("fl.f.save"))
    assert [e.value for e in at.error] == [t("fl.e.viewer")]
    assert not at.success
    assert list(_reports(with_streets).index) == [fid]  # nothing new
    assert _metric(at, "fl.m.segments") == "1"

    _pick(at, fid)
    assert not [b for b in at.button if b.key == f"fl_confirm_{fid}"]
    _click(at, t("fl.r.end"))
    assert [e.value for e in at.error] == [t("fl.e.viewer")]
    assert _blank(_reports(with_streets).loc[fid, "ended_at"])


def test_an_approver_confirms_when_marking_and_afterwards(
    start: Start, with_streets: Path, network: Network
) -> None:
    """An editor's disabled box: test_marking_a_flood_records_the_report."""
    earlier = _report(with_streets, _snap_on(network, NKKN, 3), depth=35)
    at = start(role="approver")
    at.session_state["fl_pending"] = _pending(_snap_on(network, TWO_WAY))
    at.run()
    box = at.checkbox(key="fl_confirmed")
    assert not box.disabled
    assert not box.help
    box.check()
    _click(at, t("fl.f.save"))
    reports = _reports(with_streets)
    (new,) = [f for f in reports.index if f != earlier]
    assert reports.loc[new, "confirmed_by"] == USER
    assert not _blank(reports.loc[new, "confirmed_at"])
    assert _blank(reports.loc[earlier, "confirmed_at"])

    _pick(at, earlier)
    at.button(key=f"fl_confirm_{earlier}").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [t("fl.r.confirmed_ok", fid=earlier)]
    assert _reports(with_streets).loc[earlier, "confirmed_by"] == USER
    assert _frame_with(at, t("fl.r.status"))[t("fl.r.confirmed")].tolist() == [True, True]


# --- 6. time travel -----------------------------------------------------------------------------


def test_a_past_moment_shows_the_floods_of_then(
    start: Start, with_streets: Path, network: Network
) -> None:
    _report(with_streets, _snap_on(network, NKKN, 3), depth=50, ago=timedelta(hours=3),
            end_ago=timedelta(hours=1))  # fmt: skip
    at = start()
    assert _metric(at, "fl.m.segments") == "0"
    table = _frame_with(at, t("fl.r.status"))
    assert list(table[t("fl.r.status")]) == [t("fl.status.ended")]

    then = (floods.now_local() - timedelta(hours=2)).replace(second=0)
    at.radio(key="fl_mode").set_value("past").run()
    at.date_input(key="fl_day").set_value(then.date())
    at.time_input(key="fl_time").set_value(then.time()).run()
    assert not at.exception, at.exception
    assert _metric(at, "fl.m.segments") == "1"
    assert _metric(at, "fl.m.deepest") == "50 cm"
    assert t("fl.past", when=then.strftime("%d/%m/%Y %H:%M")) in [i.value for i in at.info]
    assert t("fl.mark.past") in [i.value for i in at.info]  # no marking in the past
    assert at.radio(key="fl_mark_mode").disabled
    table = _frame_with(at, t("fl.r.status"))
    assert list(table[t("fl.r.status")]) == [t("fl.status.live")]
    assert not [s for s in at.selectbox if s.key == "fl_pick"]  # no actions on the past

    at.radio(key="fl_mode").set_value("now").run()
    assert _metric(at, "fl.m.segments") == "0"
    assert not [i for i in at.info if i.value.startswith(t("fl.past", when="")[:20])]


# --- 7. report actions --------------------------------------------------------------------------


def _history(db: Path, fid: int) -> pd.DataFrame:
    with _other_planner(db) as store:
        return store.history(floods.REPORTS_LAYER, fid)


def test_ending_a_report(start: Start, with_streets: Path, network: Network) -> None:
    fid = _report(with_streets, _snap_on(network, TWO_WAY), depth=35)
    at = start()
    _pick(at, fid)
    assert not [b for b in at.button if b.key == f"fl_confirm_{fid}"]  # an editor's view
    (field,) = [w for w in at.text_input if w.label == t("fl.r.end_reason")]
    assert field.value == t("fl.r.receded")
    field.input("nước rút hết lúc 21 giờ")
    _click(at, t("fl.r.end"))
    assert [s.value for s in at.success] == [t("fl.r.ended_ok", fid=fid)]
    report = _reports(with_streets).loc[fid]
    assert not _blank(report["ended_at"])
    assert floods.parse_time(report["ended_at"], "t") <= floods.now_local()
    assert report["end_reason"] == "nước rút hết lúc 21 giờ"
    history = _history(with_streets, fid)
    assert list(history["reason"])[-1] == "nước rút hết lúc 21 giờ"
    assert list(history["changed_by"])[-1] == USER
    assert _metric(at, "fl.m.segments") == "0"
    assert not [s for s in at.selectbox if s.key == "fl_pick"]  # nothing live to act on


def test_recording_a_new_level_supersedes_the_report(
    start: Start, with_streets: Path, network: Network
) -> None:
    snap = _snap_on(network, TWO_WAY)
    fid = _report(with_streets, snap, depth=35, source="resident_call")
    at = start()
    _pick(at, fid)
    (depth,) = [n for n in at.number_input if n.label == t("fl.r.new_depth")]
    assert depth.value == 35
    depth.set_value(60)
    _click(at, t("fl.r.update"))
    reports = _reports(with_streets)
    assert len(reports) == 2
    new = int(reports.index[reports["supersedes"].notna()][0])
    assert [s.value for s in at.success] == [t("fl.r.updated_ok", fid=fid, new=new)]
    old, latest = reports.loc[fid], reports.loc[new]
    assert not _blank(old["ended_at"]) and old["end_reason"] == "superseded"
    assert int(latest["supersedes"]) == fid
    assert float(latest["depth_cm"]) == 60
    assert latest["effect"] == "passable"
    assert latest["source"] == "resident_call"
    assert latest["reporter"] == USER
    assert sorted(floods.segment_list(latest["segment_ids"])) == sorted(snap.segment_ids)
    assert old["ended_at"] == latest["observed_at"]
    assert _metric(at, "fl.m.segments") == "1"
    assert _metric(at, "fl.m.deepest") == "60 cm"
    table = _frame_with(at, t("fl.r.status"))
    assert dict(zip(table["#"], table[t("fl.r.status")], strict=True)) == {
        new: t("fl.status.live"), fid: t("fl.status.ended")}  # fmt: skip


def _correct_meanwhile(db: Path, fid: int) -> int:
    """Another planner corrects the report (it was closed, not passable); the new version."""
    with _other_planner(db) as store:
        version = store.get_feature(floods.REPORTS_LAYER, fid).version
        floods.correct_report(store, fid, expected_version=version, user=OTHER, role="editor",
                              reason="nhầm: thực tế đã cấm đường", effect="closed")  # fmt: skip
        return store.get_feature(floods.REPORTS_LAYER, fid).version


def test_ending_a_report_changed_meanwhile_is_a_conflict(
    start: Start, with_streets: Path, network: Network
) -> None:
    fid = _report(with_streets, _snap_on(network, TWO_WAY), depth=35)
    at = start()
    _pick(at, fid)
    assert t("fl.r.meta", who=md(OTHER), version=1) in [c.value for c in at.caption]
    _correct_meanwhile(with_streets, fid)
    _click(at, t("fl.r.end"))
    report = _reports(with_streets).loc[fid]
    assert report["effect"] == "closed"  # the other planner's correction stands
    assert t("fl.e.conflict") in [e.value for e in at.error]
    assert _blank(report["ended_at"])


def test_a_new_level_over_a_report_changed_meanwhile_is_a_conflict(
    start: Start, with_streets: Path, network: Network
) -> None:
    fid = _report(with_streets, _snap_on(network, TWO_WAY), depth=35)
    at = start()
    _pick(at, fid)
    _correct_meanwhile(with_streets, fid)
    (depth,) = [n for n in at.number_input if n.label == t("fl.r.new_depth")]
    depth.set_value(40)
    _click(at, t("fl.r.update"))
    reports = _reports(with_streets)
    assert t("fl.e.conflict") in [e.value for e in at.error]
    assert list(reports.index) == [fid]  # no new report
    assert _blank(reports.loc[fid, "ended_at"])
    assert reports.loc[fid, "effect"] == "closed"


# --- 8. flood-prone streets ---------------------------------------------------------------------


def test_designating_a_flood_prone_street(
    start: Start, with_streets: Path, network: Network
) -> None:
    lang = "vi"  # the programme's lines in both languages: test_streets_without_reports
    at = start()
    markdown = [m.value for m in at.markdown]
    assert f"**{t('fl.prone.programme', lang, ward='An Khánh')}**" in markdown
    for street in PROGRAMME:  # the sample is District 3, not An Khánh
        assert f"{md(street)} · {t('fl.prone.missing', lang)}" in markdown
        assert not [b for b in at.button if b.key == f"fl_prog_{street}"]
    choice = at.selectbox(key="fl_prone_st")
    assert choice.options == network.index.street_names()
    choice.set_value(NKKN)
    at.text_input(key="fl_prone_reason").input("Ngập mỗi khi triều cường")
    _click(at, t("fl.prone.designate", lang))
    assert [s.value for s in at.success] == [t("fl.prone.done", lang, street=NKKN)]
    with _other_planner(with_streets) as store:
        prone = floods.read_prone(store)
    (record,) = [r for _, r in prone.iterrows()]
    assert record["street"] == NKKN
    assert record["scope"] == "street"
    names = network.edges["name"].fillna("").str.split(" / ")
    nkkn = network.edges.loc[names.map(lambda parts: NKKN in parts), "segment_id"]
    assert len(nkkn) > (network.edges["name"] == NKKN).sum()  # "A / B" counts for both
    assert sorted(floods.segment_list(record["segment_ids"])) == sorted(nkkn)
    assert record["reason"] == "Ngập mỗi khi triều cường"
    assert record["designated_by"] == USER
    assert record.geometry.length > 0
    # the street now has its works editor, and it appears in the history
    assert [e.label for e in at.expander if e.label.startswith(NKKN)] == [
        f"{NKKN} · {t('fl.prone.works', lang)}"]  # fmt: skip
    assert NKKN in at.selectbox(key="fl_history_street").options

    # a second designation of the same street is refused with a reason
    at.selectbox(key="fl_prone_st").set_value(NKKN)
    _click(at, t("fl.prone.designate", lang))
    (error,) = [e.value for e in at.error]
    assert error.startswith(t("fl.e.input", lang, error=""))
    assert md("already flood-prone") in error
    with _other_planner(with_streets) as store:
        assert len(floods.read_prone(store)) == 1


# --- 10. the route page -------------------------------------------------------------------------


def _route(at: AppTest, network: Network) -> AppTest:
    """Type the two ends of the run along Nam Kỳ Khởi Nghĩa (latitude first)."""
    nodes = network.nkkn_nodes
    at.text_input(key="rt_origin_text").input(network.latlon_text(nodes[0])).run()
    at.text_input(key="rt_destination_text").input(network.latlon_text(nodes[-1])).run()
    assert not at.exception, at.exception
    return at


def _expected(db: Path, network: Network, max_depth_cm: float) -> routing.Comparison:
    """The comparison the page should show, from the stored reports."""
    state = floods.segment_state(network.edges, _reports(db))
    nodes = network.nkkn_nodes
    return routing.compare(
        network.graph, network.lonlat(nodes[0]), network.lonlat(nodes[-1]),
        floods=floods.floods_for_routing(state), max_depth_cm=max_depth_cm,
    )  # fmt: skip


def _metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def _flood_run(db: Path, network: Network, **fields: Any) -> int:
    """One report on the middle of the run along Nam Kỳ Khởi Nghĩa (not its two ends)."""
    return _report(db, network.index.from_segments(network.nkkn_segments[1:-1]), **fields)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_route_without_floods(
    start: Start, with_streets: Path, network: Network, lang: str
) -> None:
    at = start("route", lang=lang)
    assert at.title[0].value == t("rt.title", lang)
    assert [i.value for i in at.info] == [t("rt.click_origin", lang)]
    assert at.selectbox(key="rt_vehicle").value == "motorbike"
    assert at.number_input(key="rt_depth_motorbike").value == 20

    # longitude first is caught and explained
    at.text_input(key="rt_origin_text").input("106.69,10.78").run()
    assert not at.exception
    with pytest.raises(ValueError, match="latitude first") as caught:
        floods.parse_latlon("106.69,10.78", t("rt.origin", lang))
    # the message is Markdown-escaped on the page (it quotes what was typed)
    assert [e.value for e in at.error] == [t("rt.bad_point", lang, error=md(caught.value))]
    assert "latitude first" in at.error[0].value
    assert at.session_state["rt_origin"] is None
    assert not at.metric

    _route(at, network)
    assert not at.error
    comparison = _expected(with_streets, network, 20)
    assert not comparison.blocked
    assert _metrics(at) == {
        t("rt.shortest", lang): (f"{fmt_num(comparison.shortest.length_m, lang)} m", "")
    }
    assert [s.value for s in at.success] == [t("rt.clear_route", lang)]
    assert not at.warning
    via = [c.value for c in at.caption if c.value.startswith(t("rt.streets", lang, streets=""))]
    assert len(via) == 1 and NKKN in via[0]


@pytest.mark.parametrize("lang", ["en"])  # rt.blocked in Vietnamese: the vehicle test
def test_route_around_a_closed_stretch(
    start: Start, with_streets: Path, network: Network, lang: str
) -> None:
    _flood_run(with_streets, network, depth=None, effect="closed")
    at = _route(start("route", lang=lang), network)
    comparison = _expected(with_streets, network, 20)
    assert comparison.blocked and comparison.safe is not None
    assert not set(comparison.safe.segment_ids) & set(network.nkkn_segments[1:-1])
    detour = comparison.detour_m
    assert detour is not None and detour > 0
    assert _metrics(at) == {
        t("rt.shortest", lang): (f"{fmt_num(comparison.shortest.length_m, lang)} m", ""),
        t("rt.safe", lang): (f"{fmt_num(comparison.safe.length_m, lang)} m",
                             f"+{fmt_num(detour, lang)} m"),
    }  # fmt: skip
    assert [w.value for w in at.warning] == [t("rt.blocked", lang, n=len(comparison.blocked))]
    assert not at.success and not at.error


def test_the_vehicle_decides_whether_25_cm_is_a_detour(
    start: Start, with_streets: Path, network: Network
) -> None:
    _flood_run(with_streets, network, depth=25)
    at = _route(start("route"), network)
    bike = _expected(with_streets, network, 20)
    assert bike.blocked and bike.safe is not None
    assert [w.value for w in at.warning] == [t("rt.blocked", n=len(bike.blocked))]
    assert t("rt.safe") in _metrics(at)

    at.selectbox(key="rt_vehicle").set_value("car").run()
    assert not at.exception
    assert at.number_input(key="rt_depth_car").value == 30
    assert not _expected(with_streets, network, 30).blocked
    assert [s.value for s in at.success] == [t("rt.clear_route")]
    assert not at.warning
    assert list(_metrics(at)) == [t("rt.shortest")]

    # the limit can be lowered for this car: 25 cm is then too deep
    at.number_input(key="rt_depth_car").set_value(20).run()
    assert [w.value for w in at.warning] == [t("rt.blocked", n=len(bike.blocked))]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_no_route_when_every_way_in_is_closed(
    start: Start, with_streets: Path, network: Network, lang: str
) -> None:
    target = network.nkkn_nodes[-1]
    ways_in = network.edges.loc[network.edges["v"] == target, "segment_id"].tolist()
    assert len(ways_in) >= 2
    _report(with_streets, network.index.from_segments(ways_in), depth=None, effect="closed")
    at = _route(start("route", lang=lang), network)
    comparison = _expected(with_streets, network, 20)
    assert comparison.safe is None
    vehicle = t("rt.vehicle.motorbike", lang).lower()
    assert [e.value for e in at.error] == [
        t("rt.no_route", lang, vehicle=vehicle, depth="20", n=len(comparison.blocked))
    ]
    assert not at.success
    # the destination lies on a closed segment, and the page says that too
    assert [w.value for w in at.warning] == [t("rt.at_ends", lang)]
    assert comparison.at_ends
    assert list(_metrics(at)) == [t("rt.shortest", lang)]


def test_two_clicks_on_the_route_map_choose_the_ends(
    start: Start, with_streets: Path, network: Network
) -> None:
    at = start("route")
    nodes = network.nkkn_nodes
    _map_click(at, *network.lonlat(nodes[0]))
    assert not at.exception, at.exception
    assert [i.value for i in at.info] == [t("rt.click_destination")]
    lon, lat = network.lonlat(nodes[0])
    assert at.text_input(key="rt_origin_text").value == f"{lat:.6f},{lon:.6f}"
    _map_click(at, *network.lonlat(nodes[-1]))
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == [t("rt.clear_route")]


def test_start_again_clears_both_points(start: Start, with_streets: Path, network: Network) -> None:
    at = _route(start("route"), network)
    at.button(key="rt_clear").click().run()
    assert not at.exception, at.exception
    assert at.text_input(key="rt_origin_text").value == ""
    assert at.text_input(key="rt_destination_text").value == ""
    assert [i.value for i in at.info] == [t("rt.click_origin")]
    assert not at.metric


def test_emptying_a_bad_coordinate_clears_its_error(start: Start, with_streets: Path) -> None:
    at = start("route")
    at.text_input(key="rt_origin_text").input("106.69,10.78").run()
    assert at.error
    at.text_input(key="rt_origin_text").input("").run()
    assert not at.exception
    assert not at.error
    assert [i.value for i in at.info] == [t("rt.click_origin")]


def test_reload_after_a_conflict_lets_the_planner_act_on_the_latest(
    start: Start, with_streets: Path, network: Network
) -> None:
    """Review finding: the Reload button was drawn only on the run that hit the conflict, so
    clicking it did nothing and every later action conflicted again."""
    fid = _report(with_streets, _snap_on(network, TWO_WAY), depth=35)
    at = start()
    _pick(at, fid)
    _correct_meanwhile(with_streets, fid)
    _click(at, t("fl.r.end"))
    assert t("fl.e.conflict") in [e.value for e in at.error]
    _click(at, t("fl.reload"))
    _click(at, t("fl.r.end"))
    assert t("fl.e.conflict") not in [e.value for e in at.error]
    report = _reports(with_streets).loc[fid]
    assert not _blank(report["ended_at"])
    assert report["effect"] == "closed"  # the colleague's correction was seen, not undone


def test_markdown_in_osm_names_is_inert(
    start: Start, with_streets: Path, network: Network
) -> None:
    """Review finding: street names from OpenStreetMap reached st.markdown unescaped."""
    evil = "Evil [click me](https://evil.example/phish) ![x](https://evil.example/t.png)"
    edges = network.edges.copy()
    edges.loc[edges["name"] == NKKN, "name"] = evil
    with _other_planner(with_streets) as store:
        streets.save_streets(store, edges, source="OpenStreetMap: [x](https://e.example).osm",
                             user="t")  # fmt: skip
    at = start()
    at.selectbox(key="fl_prone_st").set_value(evil)
    _click(at, t("fl.prone.designate"))
    shown = [*[s.value for s in at.success], *[e.label for e in at.expander],
             *[c.value for c in at.caption]]  # fmt: skip
    assert any("click me" in text for text in shown)
    assert not any("](https://" in text for text in shown)  # every link escaped


def test_switching_to_point_mode_drops_a_half_made_stretch(
    start: Start, with_streets: Path, network: Network
) -> None:
    """Review finding: a first stretch click kept point mode from ever showing the form."""
    at = start()
    at.radio(key="fl_mark_mode").set_value("stretch").run()
    at.session_state[panels.FIRST] = network.lonlat(network.nkkn_nodes[0])
    at.run()
    assert t("fl.mark.second") in [i.value for i in at.info]
    at.radio(key="fl_mark_mode").set_value("point").run()
    assert panels.FIRST not in at.session_state
    assert t("fl.mark.second") not in [i.value for i in at.info]
