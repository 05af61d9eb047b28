"""AppTest runs of the site clearance pages: the parcel map and record, the dashboard, the import.

The demo set is generated once per module into a template GeoPackage (fixed seed and date) and
copied for each test. Page code judges "overdue" on ``ui.parcels.today()``, pinned here to the
template's date so that the counts do not drift with the calendar.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from geo import clearance, demo, viewport, vnenc, wards
from geo.config import load_settings
from geo.store import Store, open_store
from tests.accounts import sign_in
from ui import parcels as ui_parcels
from ui.i18n import fmt_num, fmt_pct, t

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 60
TODAY = date(2026, 3, 2)
SEED = 2025
LAYER = clearance.DEMO_LAYER
PAGES = {
    "clearance": "views/clearance.py",
    "progress": "views/progress.py",
    "import": "views/parcel_import.py",
}
USER = "nguyen.van.an"
"""The signed-in planner's username, written to the history and the audit log."""
OTHER = "Trần Thị Bình"
XSS = "<img src=x onerror=alert(1)>"
INSIDE_AN_KHANH = (106.735, 10.787)  # lon, lat
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

Start = Callable[..., AppTest]


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty config file: a developer's own gis.toml stays out of the tests."""
    path = tmp_path_factory.mktemp("config") / "gis.toml"
    path.write_text("", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory, config_file: Path) -> Path:
    """A GeoPackage with the ward layers and the 300 demo parcels, made once per module."""
    path = tmp_path_factory.mktemp("demo") / "template.gpkg"
    settings = load_settings({"GIS_CONFIG": str(config_file), "GIS_BASEMAP": "none"})
    with open_store(str(path)) as store:
        wards.seed_store(store, settings.profile)
        count = demo.install_demo(
            store,
            settings.profile,
            store.read_layer(wards.OLD_LAYER),
            store.read_layer(wards.NEW_LAYER),
            seed=SEED,
            today=TODAY,
        )
    assert count == ui_parcels.DEMO_SIZE
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where this test's store lives."""
    return tmp_path / "ward.gpkg"


@pytest.fixture
def start(
    db: Path, monkeypatch: pytest.MonkeyPatch, config_file: Path, demo_template: Path
) -> Start:
    """Run the app on a page, signed in as :data:`USER` with ``role`` (editor by default), or
    as a visitor with ``anonymous=True`` (anonymous reading switched on):
    ``start(page, with_demo=True, lang="vi", role=None, anonymous=False)``."""
    monkeypatch.setattr(ui_parcels, "today", lambda: TODAY)

    def run(
        page: str = "clearance",
        *,
        with_demo: bool = True,
        lang: str = "vi",
        role: str | None = None,
        anonymous: bool = False,
    ) -> AppTest:
        if with_demo:
            shutil.copyfile(demo_template, db)
        monkeypatch.setenv("GIS_CONFIG", str(config_file))
        monkeypatch.setenv("GIS_DB", str(db))
        monkeypatch.setenv("GIS_BASEMAP", "none")
        for name in ("GIS_LANG", "GIS_WARD", "GIS_ROLE", "GIS_ANONYMOUS_READ"):
            monkeypatch.delenv(name, raising=False)
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        if anonymous:
            monkeypatch.setenv("GIS_ANONYMOUS_READ", "true")
        else:
            sign_in(at, db, role or "editor", USER)
        at.run()
        assert not at.exception
        if lang != "vi":
            at.radio(key="lang").set_value(lang).run()
        at.switch_page(PAGES[page]).run()
        assert not at.exception
        return at

    return run


# --- helpers ------------------------------------------------------------------------------------


@contextmanager
def _other_planner(db: Path) -> Iterator[Store]:
    """A second connection to the store, as another planner (or the CLI) would have."""
    with open_store(str(db)) as store:
        yield store


def _parcels(db: Path) -> gpd.GeoDataFrame:
    with _other_planner(db) as store:
        return store.read_layer(LAYER)


def _fid_at(db: Path, stage: str) -> int:
    """The first parcel at ``stage`` (by fid)."""
    frame = _parcels(db)
    return int(sorted(frame.index[frame["stage"] == stage])[0])


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


def _pick(at: AppTest, fid: int) -> AppTest:
    at.selectbox(key="cl_pick").set_value(fid).run()
    assert not at.exception
    return at


def _save(at: AppTest, lang: str = "vi") -> AppTest:
    (button,) = [b for b in at.button if b.label == t("cl.e.save", lang)]
    button.click().run()
    assert not at.exception
    return at


def _map_script(at: AppTest) -> str:
    """The folium map's HTML and script as the component receives them, ``\\uXXXX`` decoded."""
    args = json.loads(_map_component(at).proto.json_args)
    text = "\n".join(str(args[k]) for k in ("header", "html", "script"))
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def _map_component(at: AppTest) -> Any:
    (component,) = [
        el
        for el in at.get("component_instance")
        if el.proto.component_name == "streamlit_folium.st_folium"
    ]
    return component


def _map_features(at: AppTest, layer: str = LAYER) -> list[dict[str, Any]]:
    """The GeoJSON features of ``layer`` the map draws: the parcels from the feature group
    swapped in for the window (decoded as the browser does), other layers embedded in the
    base map (``geo_json_..._add({...})``)."""
    args = json.loads(_map_component(at).proto.json_args)
    if layer == LAYER:
        group = str(args["feature_group"] or "")
        match = re.search(r"var d = (.*?);\n", group)
        assert match, "the map has no parcel feature group"
        data = json.loads(match.group(1))
        if data["mode"] != "features":
            return []
        features = viewport.decode_features(match.group(1))
        for feature in features:
            feature["properties"]["layer"] = LAYER
            feature["properties"]["fid"] = feature["properties"]["p"]
        return features
    script = str(args["script"])
    decoder = json.JSONDecoder()
    features: list[dict[str, Any]] = []
    for match in re.finditer(r"_add\(", script):
        data, _ = decoder.raw_decode(script, match.end())
        features += [f for f in data["features"] if f["properties"].get("layer") == layer]
    return features


def _map_fids(at: AppTest) -> set[int]:
    return {int(f["properties"]["fid"]) for f in _map_features(at)}


def _click(at: AppTest, feature: dict[str, Any], nudge: float = 0.0) -> AppTest:
    """What streamlit-folium sends back when a GeoJSON feature is clicked in the browser.

    ``last_active_drawing`` is the clicked feature; ``last_object_clicked`` the point clicked
    (``nudge`` moves it, as two clicks on one parcel seldom hit the same pixel).
    """
    lon, lat = feature["geometry"]["coordinates"][0][0]
    key = json.loads(_map_component(at).proto.json_args)["key"]
    at.session_state[key] = {
        "last_active_drawing": feature,
        "last_object_clicked": {"lat": lat + nudge, "lng": lon + nudge},
    }
    at.run()
    assert not at.exception
    return at


# --- every page renders -------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("page", ["clearance", "progress"])
def test_clearance_pages_offer_the_demo_on_an_empty_store(
    start: Start, page: str, lang: str
) -> None:
    at = start(page, with_demo=False, lang=lang)
    assert [i.value for i in at.info] == [t("cl.empty", lang)]
    button = at.button(key="demo_make")
    assert button.label == t("cl.demo_make", lang, n=ui_parcels.DEMO_SIZE)
    assert not at.metric
    assert not [b for b in at.button if b.key == "demo_remove"]
    title = "cl.title" if page == "clearance" else "db.title"
    assert at.title[0].value == t(title, lang)


@pytest.mark.parametrize("with_demo", [False, True], ids=["empty", "demo"])
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_import_page_renders(start: Start, lang: str, with_demo: bool) -> None:
    at = start("import", with_demo=with_demo, lang=lang)
    assert at.title[0].value == t("imp.title", lang)
    assert at.file_uploader(key="imp_file").label == t("imp.file", lang)
    assert t("imp.demo_note", lang) in _texts(at)
    assert not at.error


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_clearance_page_with_demo_data(start: Start, db: Path, lang: str) -> None:
    at = start("clearance", lang=lang)
    assert at.title[0].value == t("cl.title", lang)
    assert [w.value for w in at.warning] == [t("cl.demo_banner", lang)]
    assert at.button(key="demo_remove").label == t("cl.demo_remove", lang)
    parcels = clearance.annotate(_parcels(db), TODAY)
    assert _metric(at, "cl.m.parcels", lang) == fmt_num(300, lang)
    assert _metric(at, "cl.m.overdue", lang) == fmt_num(int(parcels["any_overdue"].sum()), lang)
    assert _metric(at, "cl.m.complaints", lang) == fmt_num(
        int(parcels["complaint_open"].sum()), lang
    )
    assert _metric(at, "cl.m.handed", lang) == fmt_pct(clearance.handed_over_share(parcels), lang)
    assert _map_fids(at) == {int(f) for f in parcels.index}
    assert at.selectbox(key="cl_pick").value is None
    assert at.selectbox(key="cl_pick").options[0] == t("cl.pick_none", lang)
    assert t("cl.hint", lang) in _texts(at)
    legend = _map_script(at)
    assert all(stage.label(lang) in legend for stage in clearance.STAGES)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_progress_page_with_demo_data(start: Start, db: Path, lang: str) -> None:
    at = start("progress", lang=lang)
    assert at.title[0].value == t("db.title", lang)
    assert [w.value for w in at.warning] == [t("cl.demo_banner", lang)]
    parcels = clearance.annotate(_parcels(db), TODAY)
    assert _metric(at, "db.m.parcels", lang) == fmt_num(300, lang)
    assert _metric(at, "db.m.handed", lang) == fmt_pct(clearance.handed_over_share(parcels), lang)
    stages = _frame_with(at, t("db.col.stage", lang))
    assert list(stages[t("db.col.stage", lang)]) == [s.label(lang) for s in clearance.STAGES]
    counts = dict(zip(stages[t("db.col.stage", lang)], stages[t("db.col.parcels", lang)],
                      strict=True))  # fmt: skip
    expected = parcels["stage"].value_counts()
    assert counts == {s.label(lang): int(expected.get(s.code, 0)) for s in clearance.STAGES}
    overdue_items = int(parcels["overdue"].sum() + parcels["tasks_overdue"].sum())
    assert _metric(at, "db.m.overdue", lang) == fmt_num(overdue_items, lang)
    assert len(at.get("vega_lite_chart")) == 4
    downloads = {b.key for b in at.get("download_button")}
    assert {"db_xlsx", "db_csv", "db_gpkg", "db_shp"} <= downloads
    names = ("stages", "overdue_by_person", "money", "progress", "parcels")
    assert at.selectbox(key="db_csv_table").options == [t(f"db.table.{n}", lang) for n in names]
    for name in names[1:] if lang == "vi" else ():  # each table can be exported as CSV
        at.selectbox(key="db_csv_table").set_value(name).run()
        assert not at.exception


# --- demo set: make and remove ------------------------------------------------------------------


def test_demo_button_creates_the_layer_and_remove_button_removes_it(start: Start, db: Path) -> None:
    at = start("clearance", with_demo=False)
    at.button(key="demo_make").click().run()
    assert not at.exception
    assert [w.value for w in at.warning] == [t("cl.demo_banner")]
    assert _metric(at, "cl.m.parcels") == fmt_num(ui_parcels.DEMO_SIZE)
    with _other_planner(db) as store:
        info = store.layer_info(LAYER)
        assert info.feature_count == ui_parcels.DEMO_SIZE
        assert clearance.is_demo(info)
        assert not store.has_layer(clearance.PARCELS_LAYER)

    at.button(key="demo_remove").click().run()
    assert not at.exception
    assert [i.value for i in at.info] == [t("cl.empty")]
    assert not [w for w in at.warning if w.value == t("cl.demo_banner")]
    with _other_planner(db) as store:
        assert not store.has_layer(LAYER)
        assert store.has_layer(wards.NEW_LAYER)  # the ward layers are untouched


# --- filters ------------------------------------------------------------------------------------


def test_stage_filter_counts_the_handed_over_parcels(start: Start, db: Path) -> None:
    at = start()
    frame = _parcels(db)
    handed = {int(f) for f in frame.index[frame["stage"] == clearance.DONE_STAGE]}
    assert 0 < len(handed) < len(frame)
    at.multiselect(key="cl_stage").set_value([clearance.DONE_STAGE]).run()
    assert not at.exception
    assert _metric(at, "cl.m.parcels") == fmt_num(len(handed))
    assert _metric(at, "cl.m.handed") == fmt_pct(1.0)
    assert _metric(at, "cl.m.overdue") == "0"  # a handed-over parcel is never overdue by date
    assert _map_fids(at) == handed
    assert set(at.selectbox(key="cl_pick").options[1:]) == {
        clearance.parcel_key(frame.at[f, "map_sheet"], frame.at[f, "parcel_no"]) for f in handed
    }


def test_overdue_filter_matches_annotate(start: Start, db: Path) -> None:
    at = start()
    annotated = clearance.annotate(_parcels(db), TODAY)
    overdue = {int(f) for f in annotated.index[annotated["any_overdue"]]}
    assert 0 < len(overdue) < len(annotated)
    at.checkbox(key="cl_overdue").check().run()
    assert not at.exception
    assert _metric(at, "cl.m.parcels") == fmt_num(len(overdue))
    assert _metric(at, "cl.m.overdue") == fmt_num(len(overdue))
    assert _map_fids(at) == overdue


def test_person_complaint_and_search_filters(start: Start, db: Path) -> None:
    at = start()
    annotated = clearance.annotate(_parcels(db), TODAY)
    person = "Cán bộ mẫu A"
    at.selectbox(key="cl_person").set_value(person).run()
    mine = annotated[annotated["responsible"] == person]
    assert _metric(at, "cl.m.parcels") == fmt_num(len(mine))
    at.selectbox(key="cl_person").set_value("").run()

    at.checkbox(key="cl_complaint").check().run()
    open_complaints = {int(f) for f in annotated.index[annotated["complaint_open"]]}
    assert _metric(at, "cl.m.parcels") == fmt_num(len(open_complaints))
    assert _map_fids(at) == open_complaints
    at.checkbox(key="cl_complaint").uncheck().run()

    fid = int(annotated.index[0])
    holder = str(annotated.at[fid, "holder"])
    at.text_input(key="cl_search").input(holder.upper()).run()
    assert not at.exception
    assert fid in _map_fids(at)
    assert all(holder.lower() in str(annotated.at[f, "holder"]).lower() for f in _map_fids(at))
    at.text_input(key="cl_search").input("không có thửa này").run()
    assert _metric(at, "cl.m.parcels") == "0"
    assert t("cl.none_match") in _texts(at)


# --- the record and the update form -------------------------------------------------------------


def test_picking_a_parcel_shows_its_record(start: Start, db: Path) -> None:
    at = start()
    fid = _fid_at(db, "kiem_dem")
    _pick(at, fid)
    with _other_planner(db) as store:
        feature = store.get_feature(LAYER, fid)
    key = clearance.parcel_key(feature.props["map_sheet"], feature.props["parcel_no"])
    markdown = [m.value for m in at.markdown]
    assert f"#### {key} · {feature.props['holder']}" in markdown
    assert "**Kiểm đếm**" in markdown
    before, after = t("cl.version", version=feature.version, updated="\0", by="demo").split("\0")
    assert [c for c in at.caption if c.value.startswith(before) and c.value.endswith(after)]
    assert [tab.label for tab in at.tabs] == [
        t(f"cl.tab.{name}") for name in ("record", "edit", "tasks", "history", "files")
    ]
    record = _frame_with(at, t("map.panel.field"))
    values = dict(zip(record.iloc[:, 0], record.iloc[:, 1], strict=True))
    assert values[clearance.FIELD_BY_NAME["holder"].label("vi")] == feature.props["holder"]
    assert values[clearance.FIELD_BY_NAME["stage"].label("vi")] == "Kiểm đếm"
    history = _frame_with(at, t("cl.h.who"))
    assert len(history) == feature.version  # insert + one row per demo step
    assert at.selectbox(key=f"e_stage_{fid}_{feature.version}").value == "kiem_dem"


def test_clicking_a_parcel_on_the_map_opens_its_record(start: Start, db: Path) -> None:
    at = start()
    fid = _fid_at(db, "pa_du_thao")
    (feature,) = [f for f in _map_features(at) if f["properties"]["fid"] == fid]
    _click(at, feature)
    assert at.selectbox(key="cl_pick").value == fid
    props = _parcels(db).loc[fid]
    key = clearance.parcel_key(props["map_sheet"], props["parcel_no"])
    assert feature["properties"]["k"] == key  # the tooltip's label
    assert f"#### {key} · {props['holder']}" in [m.value for m in at.markdown]
    assert "**Dự thảo phương án**" in [m.value for m in at.markdown]


def test_clicking_a_parcel_again_after_using_the_picker_opens_it(start: Start, db: Path) -> None:
    at = start()
    first, second = _fid_at(db, "pa_du_thao"), _fid_at(db, "kiem_dem")
    (feature,) = [f for f in _map_features(at) if f["properties"]["fid"] == first]
    _click(at, feature)
    assert at.selectbox(key="cl_pick").value == first
    _pick(at, second)
    assert at.selectbox(key="cl_pick").value == second
    _click(at, feature, nudge=1e-6)
    assert at.selectbox(key="cl_pick").value == first


def test_clicking_the_old_ward_outline_opens_no_parcel(start: Start, db: Path) -> None:
    at = start()
    (outline,) = _map_features(at, wards.OLD_LAYER)  # Thủ Thiêm, drawn for orientation
    fid = int(outline["properties"]["fid"])
    assert fid in {int(f) for f in _parcels(db).index}  # the same number names a parcel
    _click(at, outline)
    assert at.selectbox(key="cl_pick").value is None
    assert not [m.value for m in at.markdown if m.value.startswith("#### ")]


def test_a_valid_stage_move_saves_with_the_user_name(start: Start, db: Path) -> None:
    at = start()
    fid = _fid_at(db, "kiem_dem")
    with _other_planner(db) as store:
        version = store.get_feature(LAYER, fid).version
    _pick(at, fid)
    at.selectbox(key=f"e_stage_{fid}_{version}").set_value("pa_du_thao")
    at.text_input(key=f"e_reason_{fid}_{version}").input("Đã kiểm đếm xong")
    _save(at)
    assert [s.value for s in at.success] == [t("cl.e.saved", version=version + 1)]
    assert not [e for e in at.error if e.value.startswith(t("cl.e.rule", error=""))]
    with _other_planner(db) as store:
        feature = store.get_feature(LAYER, fid)
        last = store.history(LAYER, fid).iloc[-1]
    assert feature.version == version + 1
    assert feature.props["stage"] == "pa_du_thao"
    assert feature.props["stage_date"] == TODAY.isoformat()
    assert feature.updated_by == USER
    assert last["changed_by"] == USER
    assert last["reason"] == "Đã kiểm đếm xong"
    assert last["before"]["stage"] == "kiem_dem"
    assert last["after"]["stage"] == "pa_du_thao"
    assert set(last["after"]) == {"stage", "stage_date"}  # nothing else was sent
    # The form now works on the new version, from the new stage.
    stage = at.selectbox(key=f"e_stage_{fid}_{version + 1}")
    assert stage.value == "pa_du_thao"
    assert [s for s in stage.options] == [
        ui_parcels.stage_label(c, "vi")
        for c in ("pa_du_thao", *clearance.TRANSITIONS["pa_du_thao"])
    ]
    assert "**Dự thảo phương án**" in [m.value for m in at.markdown]


def test_a_visitor_who_is_not_signed_in_may_not_save(start: Start, db: Path) -> None:
    """Anonymous reading on: a visitor sees the record, reads as a viewer, saves nothing."""
    at = start(anonymous=True)
    assert t("auth.guest") in _texts(at)
    fid = _fid_at(db, "kiem_dem")
    _pick(at, fid)
    with _other_planner(db) as store:
        version = store.get_feature(LAYER, fid).version
    at.selectbox(key=f"e_stage_{fid}_{version}").set_value("pa_du_thao")
    _save(at)
    assert t("cl.e.viewer") in [e.value for e in at.error]
    assert not at.success
    with _other_planner(db) as store:
        feature = store.get_feature(LAYER, fid)
    assert (feature.version, feature.props["stage"]) == (version, "kiem_dem")


def test_an_editor_is_offered_only_the_valid_moves(start: Start, db: Path) -> None:
    at = start()
    for stage in ("kiem_dem", "qd_thu_hoi", clearance.DONE_STAGE):
        fid = _fid_at(db, stage)
        _pick(at, fid)
        with _other_planner(db) as store:
            version = store.get_feature(LAYER, fid).version
        options = at.selectbox(key=f"e_stage_{fid}_{version}").options
        allowed = (stage, *clearance.TRANSITIONS[stage])
        assert options == [ui_parcels.stage_label(c, "vi") for c in allowed]
        assert not [w for w in at.text_input if w.key.startswith(f"e_override_{fid}_")]
    assert t("app.role", role=t("role.editor")) in _texts(at)


def test_a_paid_stage_needs_the_payment_typed_in_the_same_form(start: Start, db: Path) -> None:
    at = start()
    fid = _fid_at(db, "qd_thu_hoi")
    _pick(at, fid)
    with _other_planner(db) as store:
        version = store.get_feature(LAYER, fid).version
    at.selectbox(key=f"e_stage_{fid}_{version}").set_value("da_chi_tra")
    _save(at)
    (error,) = [e.value for e in at.error if e.value.startswith(t("cl.e.rule", error=""))]
    assert "payment" in error
    with _other_planner(db) as store:
        assert store.get_feature(LAYER, fid).version == version

    at.text_input(key=f"e_paid_amount_{fid}_{version}").input("1.250.000.000")
    at.text_input(key=f"e_paid_date_{fid}_{version}").input("15/02/2026")
    _save(at)
    assert [s.value for s in at.success] == [t("cl.e.saved", version=version + 1)]
    with _other_planner(db) as store:
        props = store.get_feature(LAYER, fid).props
    assert (props["stage"], props["paid_amount"], props["paid_date"]) == (
        "da_chi_tra", 1_250_000_000, "2026-02-15",
    )  # fmt: skip


def test_a_viewer_may_not_save(start: Start, db: Path) -> None:
    at = start(role="viewer")
    assert t("app.role", role=t("role.viewer")) in _texts(at)
    fid = _fid_at(db, "kiem_dem")
    _pick(at, fid)
    with _other_planner(db) as store:
        version = store.get_feature(LAYER, fid).version
    at.selectbox(key=f"e_stage_{fid}_{version}").set_value("pa_du_thao")
    _save(at)
    assert t("cl.e.viewer") in [e.value for e in at.error]
    (tasks,) = [b for b in at.button if b.label == t("cl.t.save")]
    tasks.click().run()
    assert not at.exception
    assert t("cl.e.viewer") in [e.value for e in at.error]
    with _other_planner(db) as store:
        assert store.get_feature(LAYER, fid).version == version


def test_a_viewer_may_not_remove_the_demo_set(start: Start, db: Path) -> None:
    at = start(role="viewer")
    buttons = [b for b in at.button if b.key == "demo_remove"]
    if buttons:
        buttons[0].click().run()
        assert not at.exception
    with _other_planner(db) as store:
        assert store.has_layer(LAYER)


def test_saving_the_tasks_unchanged_says_nothing_differs(start: Start, db: Path) -> None:
    at = start()
    frame = _parcels(db)
    fid = int(next(f for f, tasks in frame["tasks"].items() if tasks))
    _pick(at, fid)
    (tasks,) = [b for b in at.button if b.label == t("cl.t.save")]
    tasks.click().run()
    assert not at.exception
    assert t("cl.e.nothing") in [i.value for i in at.info]
    assert not [e for e in at.error if e.value.startswith(t("cl.e.rule", error=""))]
    with _other_planner(db) as store:
        assert store.get_feature(LAYER, fid).props["tasks"] == frame.at[fid, "tasks"]


def test_documents_attach_and_remove(start: Start, db: Path) -> None:
    at = start()
    fid = _fid_at(db, "kiem_dem")
    _pick(at, fid)
    assert t("cl.a.none") in _texts(at)
    at.file_uploader(key=f"att_up_{fid}").set_value(("biên bản.pdf", PDF, "application/pdf")).run()
    at.button(key=f"att_add_{fid}").click().run()
    assert not at.exception
    with _other_planner(db) as store:
        (attachment,) = store.list_attachments(LAYER, fid)
    assert [s.value for s in at.success] == [t("cl.a.added", name=attachment.filename)]
    assert attachment.created_by == USER
    assert at.get("download_button")
    at.button(key=f"att_rm_{attachment.id}").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [t("cl.a.removed", name=attachment.filename)]
    with _other_planner(db) as store:
        assert not store.list_attachments(LAYER, fid)


def test_an_approver_overrides_a_rule_with_a_written_reason(start: Start, db: Path) -> None:
    at = start(role="approver")
    fid = _fid_at(db, "kiem_dem")
    assert t("app.role", role=t("role.approver")) in _texts(at)
    _pick(at, fid)
    with _other_planner(db) as store:
        version = store.get_feature(LAYER, fid).version
    stage = at.selectbox(key=f"e_stage_{fid}_{version}")
    assert len(stage.options) == len(clearance.STAGES)  # every stage, for an override
    stage.set_value("qd_thu_hoi")
    at.text_input(key=f"e_decision_no_{fid}_{version}").input("15/QĐ-UBND")
    at.text_input(key=f"e_decision_date_{fid}_{version}").input("01/03/2026")
    at.text_input(key=f"e_reason_{fid}_{version}").input("theo chỉ đạo")

    # Breaking the process without a reason is refused, and nothing is written.
    _save(at)
    (error,) = [e.value for e in at.error if e.value.startswith(t("cl.e.rule", error=""))]
    assert "not a step of the process" in error
    with _other_planner(db) as store:
        assert store.get_feature(LAYER, fid).version == version

    # A reason too short to explain anything is refused too.
    at.text_input(key=f"e_override_{fid}_{version}").input("gấp")
    _save(at)
    (error,) = [e.value for e in at.error if e.value.startswith(t("cl.e.rule", error=""))]
    assert "override_reason" in error
    with _other_planner(db) as store:
        assert store.get_feature(LAYER, fid).version == version

    at.text_input(key=f"e_override_{fid}_{version}").input("UBND Thành phố cho phép rút ngắn")
    _save(at)
    assert [s.value for s in at.success] == [t("cl.e.saved", version=version + 1)]
    with _other_planner(db) as store:
        feature = store.get_feature(LAYER, fid)
        last = store.history(LAYER, fid).iloc[-1]
    assert feature.props["stage"] == "qd_thu_hoi"
    assert feature.props["decision_no"] == "15/QĐ-UBND"
    assert feature.props["decision_date"] == "2026-03-01"
    assert last["changed_by"] == USER
    assert last["reason"].startswith("[override]")
    assert last["reason"] == "[override] UBND Thành phố cho phép rút ngắn — theo chỉ đạo"


def test_a_conflicting_save_is_refused_and_keeps_the_other_change(start: Start, db: Path) -> None:
    at = start()
    fid = _fid_at(db, "kiem_dem")
    _pick(at, fid)
    with _other_planner(db) as store:
        version = store.get_feature(LAYER, fid).version
    # The form is on screen; another planner saves the same parcel meanwhile.
    with _other_planner(db) as store:
        clearance.edit_parcel(
            store, LAYER, fid, {"holder": "Hộ ông Bình (đã xác minh)"},
            expected_version=version, user=OTHER, role="editor", reason="xác minh", today=TODAY,
        )  # fmt: skip
    at.selectbox(key=f"e_stage_{fid}_{version}").set_value("pa_du_thao")
    _save(at)
    conflict = t("cl.e.conflict", who=OTHER, current=version + 1, expected=version)
    assert conflict in [e.value for e in at.error]
    assert not at.success
    changes = _frame_with(at, t("cl.h.who"))
    assert OTHER in set(changes[t("cl.h.who")])
    with _other_planner(db) as store:
        feature = store.get_feature(LAYER, fid)
    assert feature.version == version + 1
    assert feature.props["holder"] == "Hộ ông Bình (đã xác minh)"
    assert feature.props["stage"] == "kiem_dem"
    assert feature.updated_by == OTHER
    stale = t("cl.e.stale", seen=version, version=version + 1)
    assert stale in [w.value for w in at.warning]
    reload = at.button(key=f"reload_e_seen_{LAYER}_{fid}")
    assert reload.label == t("cl.e.reload")

    # Reloading shows the other planner's record; the move then saves on top of it.
    reload.click().run()
    assert not at.exception
    assert at.text_input(key=f"e_holder_{fid}_{version + 1}").value == "Hộ ông Bình (đã xác minh)"
    assert stale not in [w.value for w in at.warning]
    at.selectbox(key=f"e_stage_{fid}_{version + 1}").set_value("pa_du_thao")
    _save(at)
    assert [s.value for s in at.success] == [t("cl.e.saved", version=version + 2)]
    with _other_planner(db) as store:
        feature = store.get_feature(LAYER, fid)
    assert feature.props["holder"] == "Hộ ông Bình (đã xác minh)"
    assert feature.props["stage"] == "pa_du_thao"


# --- the dashboard follows the record -----------------------------------------------------------


def _stage_counts(at: AppTest) -> dict[str, int]:
    stages = _frame_with(at, t("db.col.stage"))
    return dict(zip(stages[t("db.col.stage")], stages[t("db.col.parcels")], strict=True))


def test_dashboard_follows_a_move_made_in_the_store(start: Start, db: Path) -> None:
    at = start("progress")
    fid = _fid_at(db, "da_chi_tra")
    done = ui_parcels.stage_label(clearance.DONE_STAGE, "vi")
    before_metric = _metric(at, "db.m.handed")
    before = _stage_counts(at)
    with _other_planner(db) as store:
        version = store.get_feature(LAYER, fid).version
        clearance.edit_parcel(
            store, LAYER, fid, {"stage": clearance.DONE_STAGE}, expected_version=version,
            user=OTHER, role="editor", today=TODAY,
        )  # fmt: skip
    at.run()
    assert not at.exception
    after = _stage_counts(at)
    assert after[done] == before[done] + 1
    assert after["Đã chi trả"] == before["Đã chi trả"] - 1
    share = clearance.handed_over_share(clearance.annotate(_parcels(db), TODAY))
    assert _metric(at, "db.m.handed") == fmt_pct(share)
    assert _metric(at, "db.m.handed") != before_metric


def test_dashboard_follows_a_move_made_in_the_form(start: Start, db: Path) -> None:
    at = start("progress")
    fid = _fid_at(db, "da_chi_tra")
    before_metric = _metric(at, "db.m.handed")
    before = _stage_counts(at)
    at.switch_page(PAGES["clearance"]).run()
    _pick(at, fid)
    with _other_planner(db) as store:
        version = store.get_feature(LAYER, fid).version
    at.selectbox(key=f"e_stage_{fid}_{version}").set_value(clearance.DONE_STAGE)
    _save(at)
    assert [s.value for s in at.success] == [t("cl.e.saved", version=version + 1)]
    at.switch_page(PAGES["progress"]).run()
    assert not at.exception
    done = ui_parcels.stage_label(clearance.DONE_STAGE, "vi")
    assert _stage_counts(at)[done] == before[done] + 1
    assert _metric(at, "db.m.handed") != before_metric


# --- HTML typed into a record stays text --------------------------------------------------------


def test_html_typed_in_a_field_is_escaped_on_the_map(start: Start, db: Path) -> None:
    at = start()
    fid = _fid_at(db, "kiem_dem")
    _pick(at, fid)
    with _other_planner(db) as store:
        version = store.get_feature(LAYER, fid).version
    at.text_input(key=f"e_holder_{fid}_{version}").input(XSS)
    at.text_input(key=f"e_responsible_{fid}_{version}").input(f"<b>{USER}</b>")
    _save(at)
    assert [s.value for s in at.success] == [t("cl.e.saved", version=version + 1)]
    with _other_planner(db) as store:
        assert store.get_feature(LAYER, fid).props["holder"] == XSS  # stored as typed

    script = _map_script(at)
    group = str(json.loads(_map_component(at).proto.json_args)["feature_group"])
    for text in (script, group):
        assert "<img" not in text
        assert "<b>" not in text
    (feature,) = [f for f in _map_features(at) if f["properties"]["fid"] == fid]
    # the map carries ids, stage, flags, the sheet/parcel label and the click popup's person
    # and deadline (as data, shown with textContent); the holder stays on the server until
    # the record is opened
    assert set(feature["properties"]) == {"p", "s", "f", "k", "d", "layer", "fid"}
    assert feature["properties"]["d"][0] == f"<b>{USER}</b>"
    # The record's heading is markdown: every Markdown/HTML character of the holder is
    # backslash-escaped, so it shows as text (no tag, no image, no link).
    heading = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert heading and XSS not in heading[0] and ui_parcels.md(XSS) in heading[0]


# --- import ---------------------------------------------------------------------------------------


def test_import_page_lists_the_legacy_vietnamese_encodings(start: Start) -> None:
    at = start("import", with_demo=False)
    options = at.selectbox(key="imp_encoding").options
    assert vnenc.LABELS["tcvn3"] in options
    assert vnenc.LABELS["vni"] in options
    assert options[0] == t("imp.encoding.auto")
    assert at.selectbox(key="imp_encoding").value == "auto"


def _square(lon: float, lat: float, size: float = 0.0002) -> list[list[list[float]]]:
    return [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size],
             [lon, lat]]]  # fmt: skip


def _parcel_file() -> bytes:
    lon, lat = INSIDE_AN_KHANH
    rows = [
        ({"SoTo": "12", "SoThua": "0345", "ChuSuDung": "Hộ bà Lê Thị Cúc", "DienTich": "410,5",
          "GiaiDoan": "Kiểm đếm"}, _square(lon, lat)),
        ({"SoTo": "12", "SoThua": "346", "ChuSuDung": XSS, "DienTich": "395",
          "GiaiDoan": "thong_bao"}, _square(lon + 0.0003, lat)),
        ({"SoTo": "12", "SoThua": "", "ChuSuDung": "Không số thửa", "DienTich": "100",
          "GiaiDoan": "thong_bao"}, _square(lon + 0.0006, lat)),
    ]  # fmt: skip
    features = [
        {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": c}}
        for props, c in rows
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def test_import_of_a_parcel_file(start: Start, db: Path) -> None:
    at = start("import")
    at.file_uploader(key="imp_file").set_value(
        ("thua-dat.geojson", _parcel_file(), "application/geo+json")
    ).run()
    assert not at.exception
    assert not at.error
    name = "thua-dat.geojson"
    assert at.selectbox(key=f"imp_map_map_sheet_{name}").value == "SoTo"
    assert at.selectbox(key=f"imp_map_parcel_no_{name}").value == "SoThua"
    assert at.selectbox(key=f"imp_map_holder_{name}").value == "ChuSuDung"
    assert at.selectbox(key=f"imp_map_stage_{name}").value == "GiaiDoan"
    counts = {"new": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    assert t("imp.counts", **counts) in [i.value for i in at.info]
    rejected = _frame_with(at, "reason")
    assert list(rejected["row"]) == [3]
    assert "parcel_no" in rejected["reason"].iloc[0]

    (apply,) = [b for b in at.button if b.label == t("imp.apply")]
    apply.click().run()
    assert t("imp.need_source") in [e.value for e in at.error]
    at.text_input(key="imp_source").input("Văn phòng đăng ký đất đai, 02/2026")
    (apply,) = [b for b in at.button if b.label == t("imp.apply")]
    apply.click().run()  # as the signed-in planner
    assert not at.exception
    assert t("imp.done", new=2, updated=0) in [s.value for s in at.success]
    with _other_planner(db) as store:
        real = store.read_layer(clearance.PARCELS_LAYER)
        history = store.history(clearance.PARCELS_LAYER)
        assert store.layer_info(LAYER).feature_count == 300  # the demo set is left alone
    keys = {clearance.parcel_key(s, n) for s, n in zip(real["map_sheet"], real["parcel_no"],
                                                          strict=True)}  # fmt: skip
    assert keys == {"12/345", "12/346"}
    assert set(real["stage"]) == {"kiem_dem", "thong_bao"}
    assert set(history["changed_by"]) == {USER}

    # The clearance page now offers both datasets, the real records first.
    at.switch_page(PAGES["clearance"]).run()
    assert not at.exception
    dataset = at.radio(key="parcel_dataset")
    assert dataset.options == [t("cl.dataset.parcels"), t("cl.dataset.parcels_demo")]
    assert _metric(at, "cl.m.parcels") == "2"
    assert not [w for w in at.warning if w.value == t("cl.demo_banner")]
    assert "<img" not in _map_script(at)
    dataset.set_value(LAYER).run()
    assert _metric(at, "cl.m.parcels") == "300"
    assert [w.value for w in at.warning] == [t("cl.demo_banner")]
    dataset.set_value(clearance.PARCELS_LAYER).run()

    # The dashboard works on the two real records too (no money, no history of stages).
    at.switch_page(PAGES["progress"]).run()
    assert not at.exception
    assert at.radio(key="parcel_dataset").value == clearance.PARCELS_LAYER
    assert _metric(at, "db.m.parcels") == "2"
    assert _metric(at, "db.m.paid") == fmt_pct(None)


def test_a_viewer_importing_gets_a_message_not_a_traceback(start: Start, db: Path) -> None:
    signed_in = start("progress", role="viewer")
    with pytest.raises(ValueError, match=r"parcel_import\.py"):  # the page is not offered
        signed_in.switch_page(PAGES["import"])
    # reached anyway (the page alone, as a visitor would be: a viewer), the import is refused
    at = AppTest.from_file(str(ROOT / PAGES["import"]), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    at.file_uploader(key="imp_file").set_value(
        ("thua-dat.geojson", _parcel_file(), "application/geo+json")
    ).run()
    at.text_input(key="imp_source").input("Văn phòng đăng ký đất đai, 02/2026")
    (apply,) = [b for b in at.button if b.label == t("imp.apply")]
    apply.click().run()
    with _other_planner(db) as store:
        assert not store.has_layer(clearance.PARCELS_LAYER)
    assert not at.exception
    assert at.error


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_import_repairs_legacy_text_with_the_chosen_encoding(start: Start, encoding: str) -> None:
    holder = "Hộ bà Nguyễn Thị Hưởng"
    garbled = vnenc.encode(holder, encoding).decode("latin-1")  # as read byte for byte
    lon, lat = INSIDE_AN_KHANH
    feature = {
        "type": "Feature",
        "properties": {"SoTo": "7", "SoThua": "21", "ChuSuDung": garbled},
        "geometry": {"type": "Polygon", "coordinates": _square(lon, lat)},
    }
    data = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    at = start("import", with_demo=False)
    at.file_uploader(key="imp_file").set_value(("cu.geojson", data, "application/geo+json")).run()
    assert not at.exception
    assert garbled in set(at.dataframe[0].value["ChuSuDung"])
    at.selectbox(key="imp_encoding").set_value(encoding).run()
    assert not at.exception
    assert not at.error
    assert list(at.dataframe[0].value["ChuSuDung"]) == [holder]
    read = [s.value for s in at.success]
    assert read == [t("imp.read", n=1, crs="EPSG:4326", encoding=vnenc.LABELS[encoding])]


# --- found in review ------------------------------------------------------------------------


def test_an_edit_made_during_the_import_preview_is_not_overwritten(start: Start, db: Path) -> None:
    """The import applies the plan that was previewed, with the versions it read."""
    at = start("import")
    upload = ("thua-dat.geojson", _parcel_file(), "application/geo+json")
    at.file_uploader(key="imp_file").set_value(upload).run()
    at.text_input(key="imp_source").input("Văn phòng đăng ký đất đai")
    (apply,) = [b for b in at.button if b.label == t("imp.apply")]
    apply.click().run()
    assert not at.exception, at.exception
    assert t("imp.done", new=2, updated=0) in [s.value for s in at.success], (
        [e.value for e in at.error],
        [s.value for s in at.success],
    )

    # The same file again, with one holder changed: the preview shows one update...
    data = json.loads(_parcel_file())
    data["features"][0]["properties"]["ChuSuDung"] = "Hộ ông Trần Văn Dũng"
    changed = json.dumps(data).encode()
    at.file_uploader(key="imp_file").set_value(("thua-dat-2.geojson", changed, "x")).run()
    assert t("imp.counts", new=0, updated=1, unchanged=1, rejected=1) in [i.value for i in at.info]
    # ...a colleague edits that parcel meanwhile...
    with _other_planner(db) as store:
        real = store.read_layer(clearance.PARCELS_LAYER)
        fid = int(real.index[0])
        store.update_feature(
            clearance.PARCELS_LAYER, fid, expected_version=int(real.loc[fid, "_version"]),
            props={"holder": "Đã xác minh tại chỗ"}, user="đồng nghiệp",
        )  # fmt: skip
    at.text_input(key="imp_source").input("Văn phòng đăng ký đất đai, lần 2")
    (apply,) = [b for b in at.button if b.label == t("imp.apply")]
    apply.click().run()
    assert not at.exception
    # ...so the import is refused, and the colleague's edit stands.
    assert any(e.value.startswith(t("imp.conflict", error="")[:30]) for e in at.error)
    with _other_planner(db) as store:
        assert store.get_feature(clearance.PARCELS_LAYER, fid).props["holder"] == (
            "Đã xác minh tại chỗ"
        )


def test_switching_dataset_never_carries_a_form_into_another_parcel(start: Start, db: Path) -> None:
    """Demo parcel 1 and real parcel 1 may share id and version; the form must not mix them."""
    at = start()
    with _other_planner(db) as store:
        first = int(store.read_layer(LAYER).index.min())
        demo_one = store.get_feature(LAYER, first)
        gdf = store.read_layer(LAYER).loc[[first]].drop(columns="_version")
        gdf["holder"] = "Hộ thật số 1"
        store.apply_edits(
            clearance.PARCELS_LAYER, inserts=gdf.drop(columns=["demo"]), user="nhập",
            title="Thửa", source="hồ sơ",
        )  # fmt: skip
        real_one = store.read_layer(clearance.PARCELS_LAYER)
        real_fid = int(real_one.index[0])
        for version in range(1, demo_one.version):  # the same id and the same version
            store.update_feature(
                clearance.PARCELS_LAYER, real_fid, expected_version=version,
                props={"note": f"lần {version}"}, user="nhập",
            )  # fmt: skip
    assert real_fid == first
    at.run()
    at.radio(key="parcel_dataset").set_value(LAYER).run()
    _pick(at, first)
    assert (
        at.text_input(key=f"e_holder_{first}_{demo_one.version}").value
        == (demo_one.props["holder"])
    )
    at.radio(key="parcel_dataset").set_value(clearance.PARCELS_LAYER).run()
    assert at.selectbox(key="cl_pick").value is None  # the pick does not cross datasets
    _pick(at, real_fid)
    keys = [w.key for w in at.text_input if str(w.key).startswith("e_holder_")]
    (holder,) = [at.text_input(key=k) for k in keys]
    assert holder.key == f"e_holder_{first}_{demo_one.version}"  # the very same widget key
    assert holder.value == "Hộ thật số 1"
