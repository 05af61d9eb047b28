"""Big layers on the map: what a window sends (features or grid), the live layer, synthetic lots."""

from __future__ import annotations

import json
from datetime import date

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import Polygon, box

from geo import clearance, synthetic, viewport
from geo.errors import GISInputError
from geo.live import LiveLayer
from geo.store import Store
from geo.viewport import FeatureIndex, View

CATS = ("a", "b", "c")
LON, LAT = 106.72, 10.78


def _lots(n_side: int, size_deg: float = 0.0001) -> gpd.GeoDataFrame:
    """``n_side²`` square lots in a grid at (LON, LAT), categories cycling, every 7th flagged."""
    xs, ys = np.meshgrid(np.arange(n_side), np.arange(n_side))
    x0 = LON + xs.ravel() * size_deg * 1.2
    y0 = LAT + ys.ravel() * size_deg * 1.2
    n = len(x0)
    return gpd.GeoDataFrame(
        {
            "cat": [CATS[i % 3] for i in range(n)],
            "late": [i % 7 == 0 for i in range(n)],
            "key": [f"10/{i}" for i in range(n)],
        },
        geometry=shapely.box(x0, y0, x0 + size_deg, y0 + size_deg),
        index=gpd.pd.Index(np.arange(1, n + 1), name="fid"),
        crs=4326,
    )


def _index(gdf: gpd.GeoDataFrame) -> FeatureIndex:
    return FeatureIndex.from_frame(
        gdf, category="cat", categories=CATS, flags=["late"], label="key"
    )


def test_a_window_with_few_features_sends_them_and_they_decode_to_the_shapes() -> None:
    gdf = _lots(10)
    index = _index(gdf)
    view = View(*gdf.total_bounds, zoom=19)
    content = viewport.view_content(index, view)
    assert content.mode == "features"
    assert content.in_view == content.shapes == 100
    features = viewport.decode_features(content.geojson)
    assert sorted(f["properties"]["p"] for f in features) == list(range(1, 101))
    step = viewport.quantum(view)
    for feature in features:
        props = feature["properties"]
        fid = props["p"]
        drawn = shapely.geometry.shape(feature["geometry"])
        assert shapely.hausdorff_distance(drawn, gdf.geometry[fid]) <= 2 * step
        assert CATS[props["s"]] == gdf.at[fid, "cat"]
        assert bool(props["f"] & 1) == gdf.at[fid, "late"]
        assert props["k"] == gdf.at[fid, "key"]


def test_a_crowded_window_sends_a_grid_whose_counts_add_up() -> None:
    gdf = _lots(60)  # 3,600 lots
    index = _index(gdf)
    view = View(*gdf.total_bounds, zoom=15)
    content = viewport.view_content(index, view, max_features=1000)
    assert content.mode == "grid"
    data = json.loads(content.geojson)
    assert content.shapes == len(data["d"]) < 100
    counts = np.array([cell[2] for cell in data["d"]])
    by_cat = np.array([cell[4] for cell in data["d"]])
    late = np.array([cell[5][0] for cell in data["d"]])
    assert counts.sum() == content.in_view == 3600
    assert (by_cat.sum(axis=1) == counts).all()
    assert by_cat.sum(axis=0).tolist() == [1200, 1200, 1200]
    assert late.sum() == int(gdf["late"].sum())
    assert all(cell[3] == int(np.argmax(cell[4])) for cell in data["d"])


def test_grid_cells_stay_put_when_the_map_pans() -> None:
    index = _index(_lots(60))
    west, south, east, north = index.bounds()
    a = View(west, south, east, north, 15)
    shift = (east - west) / 3
    b = View(west + shift, south, east + shift, north, 15)
    cells_a = {
        (c[0], c[1])
        for c in json.loads(viewport.view_content(index, a, max_features=10).geojson)["d"]
    }
    cells_b = {
        (c[0], c[1])
        for c in json.loads(viewport.view_content(index, b, max_features=10).geojson)["d"]
    }
    assert cells_a & cells_b  # the overlap is drawn with the same cells


def test_a_filter_keeps_only_matching_features() -> None:
    gdf = _lots(10)
    index = _index(gdf)
    keep = np.isin(index.fids, gdf.index[gdf["cat"] == "b"])
    content = viewport.view_content(index, View(*gdf.total_bounds, zoom=19), keep=keep)
    fids = {f["properties"]["p"] for f in viewport.decode_features(content.geojson)}
    assert fids == set(gdf.index[gdf["cat"] == "b"])


def test_a_window_elsewhere_is_empty_and_a_window_half_over_the_lots_has_those() -> None:
    gdf = _lots(10)
    index = _index(gdf)
    far = View(100.0, 20.0, 100.01, 20.01, 18)
    assert viewport.view_content(index, far).in_view == 0
    west, south, east, north = gdf.total_bounds
    half = View(west, south, (west + east) / 2, north, 19)
    content = viewport.view_content(index, half)
    expected = gdf[gdf.intersects(box(*half.padded(viewport.MARGIN)))]
    assert {f["properties"]["p"] for f in viewport.decode_features(content.geojson)} == set(
        expected.index
    )


def test_holes_and_multipolygons_survive_the_encoding() -> None:
    ring = [(LON, LAT), (LON + 0.001, LAT), (LON + 0.001, LAT + 0.001), (LON, LAT + 0.001)]
    hole = [(LON + 0.0003, LAT + 0.0003), (LON + 0.0006, LAT + 0.0003),
            (LON + 0.0006, LAT + 0.0006), (LON + 0.0003, LAT + 0.0006)]  # fmt: skip
    donut = Polygon(ring, [hole])
    pair = shapely.MultiPolygon([box(LON + 0.002, LAT, LON + 0.0025, LAT + 0.0005),
                                 box(LON + 0.003, LAT, LON + 0.0035, LAT + 0.0005)])  # fmt: skip
    gdf = gpd.GeoDataFrame({"cat": ["a", "b"], "late": [False, True], "key": ["x", "y"]},
                           geometry=[donut, pair], index=gpd.pd.Index([5, 9], name="fid"),
                           crs=4326)  # fmt: skip
    index = _index(gdf)
    content = viewport.view_content(index, View(*gdf.total_bounds, zoom=20))
    drawn = {f["properties"]["p"]: shapely.geometry.shape(f["geometry"])
             for f in viewport.decode_features(content.geojson)}  # fmt: skip
    assert drawn[5].geom_type == "Polygon" and len(drawn[5].interiors) == 1
    assert drawn[9].geom_type == "MultiPolygon" and len(drawn[9].geoms) == 2
    assert abs(drawn[5].area - donut.area) / donut.area < 0.01


def test_labels_with_markup_stay_data() -> None:
    gdf = _lots(2)
    gdf["key"] = ['</script><img src=x onerror="alert(1)">', "a\u2028b", "x", "y"]
    content = viewport.view_content(_index(gdf), View(*gdf.total_bounds, zoom=20))
    labels = {f["properties"]["k"] for f in viewport.decode_features(content.geojson)}
    assert '</script><img src=x onerror="alert(1)">' in labels  # exact, as text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"west": 1.0, "south": 0.0, "east": 0.0, "north": 1.0, "zoom": 10}, "west <= east"),
        ({"west": 0.0, "south": 0.0, "east": 1.0, "north": 1.0, "zoom": 30}, "zoom"),
        ({"west": float("nan"), "south": 0.0, "east": 1.0, "north": 1.0, "zoom": 3}, "finite"),
    ],
)
def test_a_bad_view_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(GISInputError, match=message):
        View(**kwargs)


def test_an_index_refuses_data_not_in_wgs84() -> None:
    with pytest.raises(GISInputError, match="EPSG:4326"):
        _index(_lots(2).to_crs(9210))


def test_a_mask_of_the_wrong_length_is_refused() -> None:
    index = _index(_lots(3))
    with pytest.raises(GISInputError, match="keep"):
        viewport.view_content(index, View(*index.bounds(), zoom=18), keep=np.ones(2, bool))


def test_synthetic_lots_are_valid_tube_houses_across_the_area() -> None:
    area = box(106.70, 10.77, 106.72, 10.79)
    lots = synthetic.scale_parcels(area, "EPSG:9210", 2000, seed=1, today=date(2026, 1, 1))
    assert len(lots) == 2000
    assert lots.crs.to_epsg() == 4326
    assert lots.geometry.is_valid.all()
    vertices = shapely.get_num_coordinates(lots.geometry.values) - 1  # the ring closes
    assert vertices.min() >= 10 and vertices.max() <= 30
    metric = lots.to_crs(9210)
    assert metric.area.between(50, 250).all()  # the last lot of a row takes the rest
    assert area.contains(lots.union_all())
    assert not metric.buffer(-0.3).geometry.overlaps(metric.buffer(-0.3).geometry.shift()).any()
    assert lots["synthetic"].all() and lots["demo"].all()
    assert set(lots["stage"]) <= {s.code for s in clearance.STAGES}
    again = synthetic.scale_parcels(area, "EPSG:9210", 2000, seed=1, today=date(2026, 1, 1))
    assert_geodataframe_equal(lots, again)


def test_synthetic_lots_refuse_an_area_too_small() -> None:
    with pytest.raises(GISInputError, match=r"too small|room for only"):
        synthetic.scale_parcels(box(106.70, 10.77, 106.701, 10.771), "EPSG:9210", 5000)


def test_a_live_layer_reads_only_what_changed(store: Store) -> None:
    gdf = _lots(6).reset_index(drop=True)
    store.write_layer("big", gdf, title="big", source="test", licence="test")
    calls: list[int] = []

    def count(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        calls.append(len(frame))
        return frame.assign(n=len(frame))

    live = LiveLayer("big", transform=count)
    first = live.refresh(store)
    assert len(first) == 36 and calls == [36] and live.full_reads == 1
    reads: list[str | None] = []
    real = store.read_layer

    def spy(*args: object, **kwargs: object) -> gpd.GeoDataFrame:
        reads.append(kwargs.get("changed_since"))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    store.read_layer = spy  # type: ignore[method-assign]
    assert live.refresh(store) is first  # nothing changed: nothing read again
    assert reads == []
    fid = int(first.index[3])
    feature = store.get_feature("big", fid)
    store.update_feature("big", fid, expected_version=feature.version, props={"cat": "c"},
                         user="t")  # fmt: skip
    second = live.refresh(store)
    assert calls[-1] == 1 and live.full_reads == 1
    assert len(reads) == 1 and reads[0] is not None  # only what changed since
    assert second.at[fid, "cat"] == "c" and len(second) == 36
    assert second.at[fid, "_version"] == feature.version + 1
    store.write_layer("big", gdf.iloc[:10], title="big", source="test", licence="test")
    third = live.refresh(store)
    assert len(third) == 10 and live.full_reads == 2  # replaced: read again in full


def test_details_travel_as_codes_into_the_window_s_own_table() -> None:
    gdf = _lots(10)
    gdf["who"] = [f"Cán bộ {i % 3}" for i in range(len(gdf))]
    gdf["due"] = [None if i % 4 == 0 else f"2026-12-{1 + i % 28:02d}" for i in range(len(gdf))]
    index = FeatureIndex.from_frame(gdf, category="cat", categories=CATS, flags=["late"],
                                    label="key", details=["who", "due"])  # fmt: skip
    west, south, east, north = gdf.total_bounds
    view = View(west, south, west + (east - west) / 3, north, 20)
    content = viewport.view_content(index, view)
    data = json.loads(content.geojson)
    assert len(data["v"][1]) <= len({gdf.at[f[0], "due"] for f in data["d"]})
    for feature in viewport.decode_features(content.geojson):
        fid = feature["properties"]["p"]
        who, due = feature["properties"]["d"]
        assert who == gdf.at[fid, "who"]
        expected = gdf.at[fid, "due"]
        assert due == ("" if gpd.pd.isna(expected) else expected)


def _network() -> gpd.GeoDataFrame:
    from bench.routing import synthetic_network

    return synthetic_network(6000, seed=3)


def test_a_city_window_shows_main_roads_first_and_whole_classes() -> None:
    edges = _network()
    tree = shapely.STRtree(np.asarray(edges.geometry.values))
    west, south, east, north = edges.total_bounds
    whole = View(west, south, east, north, 13)
    shown, total = viewport.lines_in_view(edges, tree, whole, max_features=1000)
    assert total == len(edges) and 0 < len(shown) <= 1000
    rank = {k: viewport.ROAD_RANK.get(k, 9) for k in edges["highway"].unique()}
    kept = {rank[k] for k in shown["highway"]}
    left = {rank[k] for k in edges.drop(shown.index)["highway"]}
    assert max(kept) < min(left)  # every class drawn is more important than any left out
    corner = View(west, south, west + (east - west) / 10, south + (north - south) / 10, 17)
    near, meeting = viewport.lines_in_view(edges, tree, corner, max_features=1000)
    assert len(near) == meeting < len(edges)  # a block: every street in it
    assert near.intersects(shapely.box(*corner.padded(viewport.MARGIN))).all()
