"""The merger analysis and old → new lookups on the real ward boundaries."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from geo import wards
from geo.config import OldWardMerge, WardProfile, load_settings
from geo.crs import area_km2
from geo.errors import ConfigError, GISInputError, NotFoundError
from geo.names import display_name
from geo.store import Store

AN_KHANH_OLD = {"Thủ Thiêm", "An Lợi Đông", "Thảo Điền", "An Khánh", "An Phú"}


def profile_of(ward: str) -> WardProfile:
    return load_settings({"GIS_WARD": ward}).profile


@pytest.fixture(scope="module")
def hcmc() -> tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    profile = profile_of("an-khanh")
    return profile, wards.load_old_wards(profile), wards.load_new_wards(profile)


@pytest.fixture(scope="module")
def an_khanh(hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame]) -> wards.WardSummary:
    profile, old, new = hcmc
    return wards.ward_summary(old, new, profile)


def test_an_khanh_is_made_of_its_five_official_old_wards(an_khanh: wards.WardSummary) -> None:
    main = an_khanh.composition[~an_khanh.composition["sliver"]]
    assert set(main["old_ward"]) == AN_KHANH_OLD
    assert main["official"].all()
    assert an_khanh.missing_official == []
    assert an_khanh.extra_computed == []
    whole = main[main["old_ward"] != "An Phú"]
    assert (whole["share"] > 0.97).all()
    an_phu = main.loc[main["old_ward"] == "An Phú", "share"].item()
    assert an_phu == pytest.approx(0.367, abs=0.01)


def test_slivers_are_reported_apart_not_as_members(an_khanh: wards.WardSummary) -> None:
    slivers = an_khanh.slivers
    assert not slivers.empty
    assert (slivers["share"] < wards.SLIVER_SHARE).all()
    assert not set(slivers["old_ward"]) & AN_KHANH_OLD


def test_an_khanh_area_discrepancy_is_measured_in_vn2000_and_flagged(
    an_khanh: wards.WardSummary,
) -> None:
    assert an_khanh.measure_crs == "EPSG:9210"
    assert an_khanh.measured_area_km2 == pytest.approx(18.2, abs=0.1)
    assert an_khanh.official_area_km2 == 15.35
    assert an_khanh.stated_area_km2 == 15.33
    assert an_khanh.area_ratio == pytest.approx(18.2 / 15.35, abs=0.01)
    assert an_khanh.area_flag
    assert an_khanh.population == 76967
    assert an_khanh.official_population == 73629
    assert an_khanh.planned_population == 270000


def test_old_an_phu_shares_add_up_to_one(
    hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    profile, old, new = hcmc
    table = wards.merger_table(old, new, profile)
    an_phu = table[(table["old_ward"] == "An Phú") & (table["old_district"] == "Quận 2")]
    assert set(an_phu["new_ward"]) == {"An Khánh", "Bình Trưng"}
    assert an_phu["share"].sum() == pytest.approx(1.0, abs=0.02)
    assert an_phu.set_index("new_ward")["share"]["Bình Trưng"] == pytest.approx(0.627, abs=0.01)


def test_shares_agree_with_the_independent_crosswalk(
    hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame], shared_data: Path
) -> None:
    """The CSV was computed separately (UTM 48N); our VN-2000 overlay must agree to 1 %."""
    profile, old, new = hcmc
    crosswalk = pd.read_csv(shared_data / "ward_merger_crosswalk_derived.csv")
    crosswalk = crosswalk[crosswalk["new_ward"].isin(["An Khánh", "Bình Trưng"])]
    ours = wards.shares(old[old["district"] == "Quận 2"], new, profile.measure_crs)
    merged = crosswalk.merge(
        ours, left_on=["new_ward", "old_unit"], right_on=["new_ward", "old_ward"], how="left"
    )
    assert len(merged) == 8 and merged["share"].notna().all()
    diff = (merged["share"] - merged["share_of_old_unit_inside_new"]).abs()
    assert diff.max() < 0.01


def test_old_layout_dissolves_the_2020_merger_like_the_derived_file(
    hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame], shared_data: Path
) -> None:
    profile, old, _ = hcmc
    derived = gpd.read_file(
        shared_data / "hcmc_district2_wards_2020_2025_derived_from_gadm41.geojson"
    )
    quan2 = old[old["district"] == "Quận 2"]
    assert sorted(quan2["name"]) == sorted(derived["name"])
    ours = area_km2(quan2.set_index("name"), profile.measure_crs).sort_index()
    theirs = area_km2(derived.set_index("name"), profile.measure_crs).sort_index()
    pd.testing.assert_series_equal(ours, theirs, rtol=1e-3, check_names=False)
    assert "Bình An" not in set(quan2["name"])
    assert quan2.set_index("name").loc["An Khánh", "gadm_units"] == "AnKhánh+BìnhAn+BìnhKhánh"


def test_names_get_their_spaces_back(
    hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    _, old, _ = hcmc
    assert {"Thảo Điền", "An Lợi Đông", "Thủ Thiêm"} <= set(old["name"])
    assert not old["name"].str.contains(r"[a-zà-ỹ][A-ZĐ]", regex=True).any()


@pytest.mark.parametrize(
    ("ward", "members", "crs", "flagged"),
    [
        ("binh-trung", {"Bình Trưng Đông", "Bình Trưng Tây", "An Phú"}, "EPSG:9210", True),
        ("an-hai", {"An Hải Bắc", "An Hải Nam", "Phước Mỹ"}, "EPSG:5899", False),
    ],
)
def test_other_wards_are_configuration_not_code(
    ward: str, members: set[str], crs: str, flagged: bool
) -> None:
    profile = profile_of(ward)
    old, new = wards.load_old_wards(profile), wards.load_new_wards(profile)
    summary = wards.ward_summary(old, new, profile)
    main = summary.composition[~summary.composition["sliver"]]
    assert set(main["old_ward"]) == members
    assert summary.measure_crs == crs
    assert summary.area_flag is flagged
    assert summary.missing_official == []


@pytest.mark.parametrize(
    "written", ["ThảoĐiền", "thao dien", "Phường Thảo Điền", "P. Thảo Điền", "thao dienn"]
)
def test_lookup_any_spelling_of_thao_dien(
    hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame], written: str
) -> None:
    profile, old, new = hcmc
    first = wards.lookup_name(written, old, new, profile)[0]
    assert first.old_ward == "Thảo Điền"
    assert [name for name, _ in first.new_wards] == ["An Khánh"]
    assert not first.split


def test_lookup_says_an_phu_was_split_with_shares(
    hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    profile, old, new = hcmc
    first = wards.lookup_name("Phường An Phú (thành phố Thủ Đức)", old, new, profile)[0]
    assert (first.old_ward, first.district, first.split) == ("An Phú", "Quận 2", True)
    shares = dict(first.new_wards)
    assert shares["Bình Trưng"] == pytest.approx(0.627, abs=0.01)
    assert shares["An Khánh"] == pytest.approx(0.367, abs=0.01)


def test_lookup_finds_a_unit_merged_before_2025(
    hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    profile, old, new = hcmc
    results = wards.lookup_name("Binh Khanh", old, new, profile)
    first = results[0]
    assert (first.old_ward, first.match) == ("An Khánh", "former unit")
    assert first.new_wards[0][0] == "An Khánh"
    assert any(r.district == "Cần Giờ" for r in results[1:])  # the other Bình Khánh


@pytest.mark.parametrize(
    ("query", "error"), [("xyzzy", NotFoundError), ("", GISInputError), ("  ", GISInputError)]
)
def test_lookup_refuses_unknown_names(
    hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame], query: str, error: type
) -> None:
    profile, old, new = hcmc
    with pytest.raises(error, match="query"):
        wards.lookup_name(query, old, new, profile)


def test_lookup_point(hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    _, old, new = hcmc
    hit = wards.lookup_point(106.7215, 10.7725, old, new)  # Thủ Thiêm
    assert (hit.old_ward, hit.old_district, hit.new_ward) == ("Thủ Thiêm", "Quận 2", "An Khánh")
    sea = wards.lookup_point(107.5, 10.0, old, new)
    assert sea.old_ward is None and sea.new_ward is None
    with pytest.raises(GISInputError, match="swapped"):
        wards.lookup_point(10.7725, 106.7215, old, new)


def test_unknown_ward_suggests_names(
    hcmc: tuple[WardProfile, gpd.GeoDataFrame, gpd.GeoDataFrame],
) -> None:
    profile, old, new = hcmc
    with pytest.raises(NotFoundError, match="An Khánh"):
        wards.ward_summary(old, new, profile, "An Khanh")


def test_a_wrong_merge_in_the_profile_is_a_config_error() -> None:
    profile = profile_of("an-khanh")
    bad = profile.model_copy(
        update={"old_ward_merges": [OldWardMerge(name="X", district="Quận2", units=["A", "B"])]}
    )
    with pytest.raises(ConfigError, match="old_ward_merges"):
        wards.load_old_wards(bad)


def test_seed_store_writes_layers_once_with_provenance(store: Store) -> None:
    profile = profile_of("an-khanh")
    assert wards.seed_store(store, profile) == [wards.NEW_LAYER, wards.OLD_LAYER]
    assert wards.seed_store(store, profile) == []
    old_info = store.layer_info(wards.OLD_LAYER)
    assert "non-commercial" in old_info.licence
    assert old_info.meta["attribution"] == "GADM 4.1 (www.gadm.org), phi thương mại"
    new = store.read_layer(wards.NEW_LAYER)
    assert len(new) == 168
    assert display_name("AnKhánh") in set(new["name"])


@pytest.mark.parametrize("layer_id", ["parcels", "parcels_demo"])
def test_parcel_layers_cannot_be_replaced_in_bulk(layer_id: str) -> None:
    frame = gpd.GeoDataFrame(
        {"map_sheet": ["1"]}, geometry=[box(106.72, 10.77, 106.721, 10.771)], crs=4326
    )
    with pytest.raises(GISInputError, match="parcel import"):
        wards.conform_layer(layer_id, frame)
