"""Streamlit AppTest runs of every page, in Vietnamese and English, plus the UI texts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.accounts import sign_in
from ui.i18n import EN, VI, fmt_num, fmt_pct, t
from ui.mapview import BASEMAPS

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 30


# Texts -----------------------------------------------------------------------------------


def test_both_languages_have_the_same_keys() -> None:
    assert set(VI) == set(EN)
    assert all(VI[key].strip() and EN[key].strip() for key in VI)


def test_both_languages_use_the_same_placeholders() -> None:
    def names(text: str) -> set[str]:
        return set(re.findall(r"{(\w+)}", text))

    for key in VI:
        assert names(EN[key]) <= names(VI[key]) | {"ward", "province"}, key


def test_every_key_used_in_the_code_exists() -> None:
    sources = [APP, *ROOT.glob("views/*.py"), *ROOT.glob("ui/*.py")]
    used: set[str] = set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\(\s*"([a-z_]+(?:\.[a-z_]+)+)"', text))
        used |= set(re.findall(r"\bt\(\s*'([a-z_]+(?:\.[a-z_]+)+)'", text))
    # Keys built at run time.
    used |= {f"map.basemap.{b}" for b in BASEMAPS} | {"data.target_new", "data.target_replace"}
    assert len(used) > 50, "t() calls not found"
    assert used <= set(VI), sorted(used - set(VI))


def test_t_formats_and_fails_loudly() -> None:
    assert t("nav.map") == "Bản đồ"
    assert t("nav.map", "en") == "Map"
    assert t("nav.map", "fr") == "Bản đồ"
    assert t("map.title", "en", ward="An Khánh") == "Map of An Khánh ward"
    with pytest.raises(KeyError):
        t("no.such.key")


def test_number_formats() -> None:
    assert fmt_num(76967, "vi") == "76.967"
    assert fmt_num(76967, "en") == "76,967"
    assert fmt_num(15.334, "vi", 2) == "15,33"
    assert fmt_num(None) == "–"
    assert fmt_pct(0.367, "vi") == "36,7 %"
    assert fmt_pct(0.367, "en") == "36.7%"


# Pages -----------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("GIS_DB", str(tmp_path / "ward.gpkg"))
    monkeypatch.setenv("GIS_BASEMAP", "none")
    monkeypatch.delenv("GIS_LANG", raising=False)
    monkeypatch.delenv("GIS_WARD", raising=False)
    monkeypatch.delenv("GIS_ANONYMOUS_READ", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    sign_in(at, tmp_path / "ward.gpkg", "admin")  # the data page's import is an admin's
    at.run()
    assert not at.exception
    return at


def _texts(at: AppTest) -> str:
    """Every text the page shows, in one string."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success",
                 "warning", "error"):  # fmt: skip
        parts += [str(el.value) for el in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [t_.value.to_csv() for t_ in at.table]
    parts += [d.value.to_csv() for d in at.dataframe]
    return "\n".join(parts)


def _english(at: AppTest) -> AppTest:
    at.radio(key="lang").set_value("en").run()
    assert not at.exception
    return at


def test_map_page_in_both_languages(app: AppTest) -> None:
    texts = _texts(app)
    assert "Bản đồ phường An Khánh" in texts
    assert "Bấm vào một phường trên bản đồ" in texts
    assert "GADM 4.1 (www.gadm.org), phi thương mại" in texts
    assert app.selectbox(key="map_basemap").value == "none"
    assert app.checkbox(key="map_show_wards_new").value is True
    texts = _texts(_english(app))
    assert "Map of An Khánh ward" in texts
    assert "Click a ward on the map" in texts


def test_hiding_a_layer_and_changing_opacity_rerun_cleanly(app: AppTest) -> None:
    app.checkbox(key="map_show_wards_old").uncheck().run()
    app.slider(key="map_opacity_wards_new").set_value(0.4).run()
    assert not app.exception
    assert "GADM 4.1 (www.gadm.org), phi thương mại" not in _texts(app)
    app.checkbox(key="map_show_wards_new").uncheck().run()
    assert "Chưa chọn lớp nào" in _texts(app)


def test_merger_page_flags_the_area_and_shows_the_split(app: AppTest) -> None:
    app.switch_page("views/merger.py").run()
    assert not app.exception
    texts = _texts(app)
    assert "Sáp nhập: phường An Khánh" in texts
    (warning,) = app.warning
    assert "lệch" in warning.value and "15,35 km²" in warning.value
    assert "73.629" in texts  # official population
    assert "76.967" in texts  # dataset population
    splits = app.table[0].value
    an_phu = splits[splits.iloc[:, 0] == "An Phú"].iloc[0].tolist()
    assert "An Khánh 36,7 %" in an_phu[2] and "Bình Trưng 62,7 %" in an_phu[2]
    assert an_phu[3] == "Có"
    composition = app.dataframe[0].value
    assert set(composition.iloc[:, 0]) == {"An Khánh", "An Lợi Đông", "Thảo Điền", "Thủ Thiêm",
                                           "An Phú"}  # fmt: skip
    texts = _texts(_english(app))
    assert "Merger: An Khánh ward" in texts
    assert "differs by" in app.warning[0].value
    assert "An Khánh 36.7%" in app.table[0].value.to_csv()


@pytest.mark.parametrize("query", ["thao dien", "ThảoĐiền", "Phường Thảo Điền", "THAO  DIEN"])
def test_lookup_by_name_finds_the_new_ward(app: AppTest, query: str) -> None:
    app.switch_page("views/lookup.py").run()
    app.text_input(key="lookup_query").input(query).run()
    assert not app.exception
    (success,) = [s.value for s in app.success if "Thảo Điền" in s.value]
    assert "nay thuộc An Khánh" in success


def test_lookup_says_plainly_that_an_phu_was_split(app: AppTest) -> None:
    app.switch_page("views/lookup.py").run()
    app.text_input(key="lookup_query").input("An Phú").run()
    assert not app.exception
    split = [w.value for w in app.warning if "An Phú" in w.value]
    assert len(split) == 1
    assert "bị chia" in split[0]
    assert "An Khánh 36,7 %" in split[0] and "Bình Trưng 62,7 %" in split[0]
    _english(app)
    split = [w.value for w in app.warning if "An Phú" in w.value]
    assert "was split" in split[0] and "An Khánh 36.7%" in split[0]


def test_lookup_of_an_unknown_name(app: AppTest) -> None:
    app.switch_page("views/lookup.py").run()
    app.text_input(key="lookup_query").input("Không Có Phường Này").run()
    assert not app.exception
    assert "Không tìm thấy" in _texts(app)


def test_lookup_by_point(app: AppTest) -> None:
    app.switch_page("views/lookup.py").run()
    app.number_input(key="lookup_lat").set_value(10.803).run()
    app.number_input(key="lookup_lon").set_value(106.737).run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Phường mới"] == "An Khánh"
    assert metrics["Phường cũ"].startswith("Thảo Điền")


def test_lookup_by_point_outside_the_wards(app: AppTest) -> None:
    app.switch_page("views/lookup.py").run()
    app.number_input(key="lookup_lat").set_value(21.03).run()  # Hà Nội
    app.number_input(key="lookup_lon").set_value(105.85).run()
    assert not app.exception
    assert "nằm ngoài" in _texts(app)


def test_data_page_catalog_and_licence(app: AppTest) -> None:
    app.switch_page("views/data.py").run()
    assert not app.exception
    catalog = app.dataframe[0].value
    assert {"wards_new", "wards_old"} <= set(catalog.iloc[:, 0])
    assert "GADM 4.1" in app.info[0].value and "phi thương mại" in app.info[0].value
    assert app.download_button(key="data_download").label == "Tải xuống wards_new.geojson"
    _english(app)
    assert "Licence note" in app.info[0].value
    assert "Layer catalogue" in _texts(app)


def _geojson(name: str = "Khu phố 1") -> bytes:
    feature = {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[106.73, 10.78], [106.74, 10.78], [106.74, 10.79], [106.73, 10.78]]],
        },
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def test_import_previews_then_writes_a_new_layer(app: AppTest) -> None:
    app.switch_page("views/data.py").run()
    app.file_uploader(key="data_upload").set_value(
        ("khu_pho.geojson", _geojson(), "application/geo+json")
    ).run()
    assert not app.exception
    assert not app.error
    assert "1 đối tượng" in _texts(app)
    app.text_input(key="data_new_id").input("khu_pho").run()
    app.button(key="data_write").click().run()
    assert not app.exception
    assert not app.error
    assert "Đã ghi 1 đối tượng vào lớp khu_pho" in _texts(app)
    assert "khu_pho" in set(app.dataframe[0].value.iloc[:, 0])
    # The imported layer is offered on the map, with its own credit line.
    app.switch_page("views/map.py").run()
    assert not app.exception
    app.checkbox(key="map_show_khu_pho").check().run()
    assert not app.exception
    assert "khu_pho.geojson" in _texts(app)


def test_import_refuses_a_bad_layer_id_and_writes_nothing(app: AppTest) -> None:
    app.switch_page("views/data.py").run()
    app.file_uploader(key="data_upload").set_value(
        ("khu_pho.geojson", _geojson(), "application/geo+json")
    ).run()
    app.text_input(key="data_new_id").input("Khu Phố!").run()
    app.button(key="data_write").click().run()
    assert not app.exception
    assert any("layer_id" in e.value for e in app.error)
    assert set(app.dataframe[0].value.iloc[:, 0]) == {"wards_new", "wards_old"}


def test_import_refuses_an_existing_id_without_replace(app: AppTest) -> None:
    app.switch_page("views/data.py").run()
    app.file_uploader(key="data_upload").set_value(
        ("khu_pho.geojson", _geojson(), "application/geo+json")
    ).run()
    app.text_input(key="data_new_id").input("wards_new").run()
    app.button(key="data_write").click().run()
    assert any("wards_new" in e.value for e in app.error)
    counts = dict(zip(*[app.dataframe[0].value.iloc[:, i] for i in (0, 2)], strict=True))
    assert counts["wards_new"] > 1


def test_a_broken_upload_shows_the_error_and_writes_nothing(app: AppTest) -> None:
    app.switch_page("views/data.py").run()
    app.file_uploader(key="data_upload").set_value(
        ("broken.geojson", b'{"type": "FeatureCollection", "features": [', "application/json")
    ).run()
    assert not app.exception
    assert app.error
    assert not [b for b in app.button if b.key == "data_write"]


def test_replacing_a_layer(app: AppTest) -> None:
    app.switch_page("views/data.py").run()
    app.file_uploader(key="data_upload").set_value(
        ("osm.geojson", _geojson("OSM ward"), "application/geo+json")
    ).run()
    app.radio(key="data_target").set_value("replace").run()
    app.selectbox(key="data_replace_id").set_value("wards_old").run()
    app.text_input(key="data_source").input("© OpenStreetMap contributors").run()
    app.button(key="data_write").click().run()
    assert not app.exception
    counts = dict(zip(*[app.dataframe[0].value.iloc[:, i] for i in (0, 2)], strict=True))
    assert counts["wards_old"] == 1
    # The map credits the data now loaded, not the GADM data it replaced.
    app.switch_page("views/map.py").run()
    assert not app.exception
    texts = _texts(app)
    assert "© OpenStreetMap contributors" in texts
    assert "GADM" not in texts


def test_a_bad_ward_setting_is_shown_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIS_WARD", "no-such-ward")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "no-such-ward" in at.error[0].value


def test_the_map_page_leaves_parcels_to_their_own_page(
    app: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parcels are drawn on the clearance page, flagged and labelled, not on the general map."""
    from geo import demo as demo_module
    from geo.config import load_settings
    from geo.store import open_store

    app.run()
    settings = load_settings()
    with open_store(settings.db_url) as store:
        old, new = store.read_layer("wards_old"), store.read_layer("wards_new")
        demo_module.install_demo(store, settings.profile, old, new, n=20)
    app.run()
    assert not app.exception
    labels = [c.label for c in app.checkbox]
    assert not [label for label in labels if "MẪU" in label or "GPMB" in label]
