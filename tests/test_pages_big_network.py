"""A city's street network on the flooding and route pages: only the window's streets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench.routing import synthetic_network
from geo import streets, wards
from geo.config import load_settings
from geo.store import open_store
from ui import floods as ui_floods
from ui.i18n import t

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("city") / "ward.gpkg"
    with open_store(str(path)) as store:
        wards.seed_store(store, load_settings({}).profile)
        streets.save_streets(store, synthetic_network(12_000, seed=2), source="test", user="t")
    return path


@pytest.mark.parametrize(("page", "key"), [("views/route.py", "rt_map"),
                                           ("views/floods.py", "fl_map")])  # fmt: skip
def test_a_big_network_draws_the_window_not_the_city(
    city: Path, page: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIS_DB", str(city))
    monkeypatch.setenv("GIS_BASEMAP", "none")
    monkeypatch.delenv("GIS_LANG", raising=False)
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.run()
    assert not at.exception
    (component,) = [el for el in at.get("component_instance")
                    if el.proto.component_name == "streamlit_folium.st_folium"]  # fmt: skip
    args = json.loads(component.proto.json_args)
    assert "bounds" in args["returned_objects"]
    group = str(args["feature_group"] or "")
    assert '"segment_id"' not in args["script"]  # the base map holds no street
    drawn = group.count('"segment_id"')
    assert 0 < drawn <= 4000
    assert len(args["script"]) + len(group) < 3_000_000
    captions = [c.value for c in at.caption]
    assert any(c.startswith(t("fl.big_network", drawn="\0", total="\0").split("\0")[0])
               for c in captions)  # fmt: skip
    assert ui_floods.BIG_NETWORK < 12_000
