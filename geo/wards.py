"""Old and new ward boundaries: loading, the merger overlay, and old → new lookups."""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from geo.config import OldWardMerge, WardProfile
from geo.crs import from_wgs84
from geo.errors import ConfigError, GISInputError, NotFoundError
from geo.names import display_name, name_key, split_official_list
from geo.store import Store

NEW_LAYER = "wards_new"
OLD_LAYER = "wards_old"
NEW_COLUMNS = [
    "ward_code", "name", "type", "province", "area_km2", "population", "density",
    "before_merger", "admin_center",
]  # fmt: skip
OLD_COLUMNS = ["name", "district", "province", "type", "gadm_units"]
MIN_SHARE = 0.02  # below this an overlap is noise from the two datasets' lines
SLIVER_SHARE = 0.10  # an overlap not in the official list and below this is a sliver
SPLIT_SHARE = 0.05  # an old ward with two or more shares above this was split
AREA_TOLERANCE = 0.05  # measured vs official area: flag beyond ±5 %


@dataclass(frozen=True)
class WardSummary:
    """A new ward's composition, areas and population, official figures beside measured ones."""

    name: str
    province: str
    measure_crs: str
    measured_area_km2: float
    stated_area_km2: float | None
    official_area_km2: float | None
    official_source: str | None
    area_ratio: float | None
    area_flag: bool
    population: int | None
    official_population: int | None
    planned_population: int | None
    before_merger: list[str]
    composition: pd.DataFrame
    missing_official: list[str] = field(default_factory=list)
    extra_computed: list[str] = field(default_factory=list)

    @property
    def slivers(self) -> pd.DataFrame:
        """Unlisted overlaps under 10 %: where the old and new datasets' lines disagree."""
        return self.composition[self.composition["sliver"]]


@dataclass(frozen=True)
class LookupResult:
    """Where an old ward went: the new wards holding it and the share of its area in each."""

    old_ward: str
    district: str
    new_wards: list[tuple[str, float]]
    split: bool
    match: str  # "exact", "former unit" (a GADM unit merged before 2025) or "approximate"


@dataclass(frozen=True)
class PointLookup:
    """The old and new wards containing a point."""

    lon: float
    lat: float
    old_ward: str | None
    old_district: str | None
    new_ward: str | None


def file_provenance(path: Path) -> dict[str, str]:
    """Source, licence and attribution of a shipped boundary file, from ``sources.toml``."""
    sources = path.parent / "sources.toml"
    try:
        table: dict[str, Any] = tomllib.loads(sources.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"provenance: could not read {sources}: {e}") from e
    entry = table.get(path.name, {})
    return {k: str(entry.get(k, "")) for k in ("source", "licence", "attribution")}


def load_new_wards(profile: WardProfile) -> gpd.GeoDataFrame:
    """The new wards (from 1 July 2025) of the profile's province, in EPSG:4326."""
    gdf = _read_boundaries(profile.new_wards, "new_wards")
    missing = [c for c in ("name", "geometry") if c not in gdf.columns]
    if missing:
        raise ConfigError(f"new_wards: {profile.new_wards} lacks the columns {missing}")
    for col in NEW_COLUMNS:
        if col not in gdf.columns:
            gdf[col] = None
    if not (gdf["name"] == profile.name).any():
        msg = f"ward profile {profile.id!r}: no new ward {profile.name!r} in {profile.new_wards}"
        raise ConfigError(msg)
    return gpd.GeoDataFrame(gdf[NEW_COLUMNS], geometry=gdf.geometry, crs=gdf.crs)


def load_old_wards(profile: WardProfile) -> gpd.GeoDataFrame:
    """The old wards (before 1 July 2025) from GADM, with the profile's earlier merges applied.

    GADM 4.1 predates some mergers (An Khánh absorbed Bình An and Bình Khánh in 2020); the
    profile's ``old_ward_merges`` dissolves those units so the layer shows the layout on the
    eve of the 2025 reorganisation. Names get their spaces back ("ThảoĐiền" → "Thảo Điền").
    """
    raw = _read_boundaries(profile.old_wards, "old_wards")
    missing = [c for c in ("NAME_1", "NAME_2", "NAME_3") if c not in raw.columns]
    if missing:
        raise ConfigError(f"old_wards: {profile.old_wards} lacks the GADM columns {missing}")
    gdf = gpd.GeoDataFrame(
        {
            "name": raw["NAME_3"].map(display_name),
            "district": raw["NAME_2"].map(display_name),
            "province": raw["NAME_1"].map(display_name),
            "type": raw.get("TYPE_3", pd.Series([""] * len(raw))).fillna(""),
            "gadm_units": raw["NAME_3"],
        },
        geometry=raw.geometry,
        crs=raw.crs,
    )
    return _apply_merges(gdf, profile.old_ward_merges, profile.old_wards)


def _read_boundaries(path: Path, what: str) -> gpd.GeoDataFrame:
    try:
        gdf = gpd.read_file(path, engine="pyogrio")
    except (OSError, ValueError) as e:
        raise ConfigError(f"{what}: could not read {path}: {e}") from e
    if gdf.crs is None:
        raise ConfigError(f"{what}: {path} has no CRS; expected EPSG:4326 GeoJSON")
    return gdf.to_crs(4326) if gdf.crs.to_epsg() != 4326 else gdf


def _apply_merges(
    gdf: gpd.GeoDataFrame, merges: list[OldWardMerge], path: Path
) -> gpd.GeoDataFrame:
    for merge in merges:
        district = display_name(merge.district)
        rows = gdf[gdf["gadm_units"].isin(merge.units) & (gdf["district"] == district)]
        if sorted(rows["gadm_units"]) != sorted(merge.units):
            msg = (
                f"old_ward_merges[{merge.name!r}]: expected the GADM units {merge.units} once "
                f"each in district {merge.district!r} of {path.name}, found "
                f"{sorted(rows['gadm_units'])}"
            )
            raise ConfigError(msg)
        merged = rows.iloc[[0]].copy()
        merged["name"] = merge.name
        merged["gadm_units"] = "+".join(merge.units)
        merged["type"] = "Phường"
        merged = merged.set_geometry([rows.geometry.union_all()], crs=gdf.crs)
        gdf = pd.concat([gdf.drop(index=rows.index), merged], ignore_index=True)
    return gdf.sort_values(["district", "name"], ignore_index=True)


def conform_layer(layer_id: str, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Check that a replacement for a ward layer has what the analysis needs.

    Other layers pass through unchanged. A ward layer (your own boundaries, or OpenStreetMap's)
    needs polygons and a ``name`` column; the optional columns the analysis reads
    (``before_merger``, ``district``, ...) are added empty when missing.

    Raises
    ------
    GISInputError
        When ``name`` is missing or a geometry is not a polygon, or when the layer is a
        parcel layer: replacing it in bulk would erase its records' versions and history, so
        parcels go through the parcel import (an upsert with a history row per change).
    """
    from geo.clearance import PARCEL_LAYERS

    if layer_id in PARCEL_LAYERS:
        msg = (
            f"{layer_id}: parcel records are imported with the parcel import (page «Nhập hồ sơ "
            "thửa» or 'python -m geo parcels import'), which updates parcels by sheet and "
            "parcel number and keeps their history; a bulk replace would erase it"
        )
        raise GISInputError(msg)
    if layer_id not in (NEW_LAYER, OLD_LAYER):
        return gdf
    if "name" not in gdf.columns:
        msg = (
            f"{layer_id}: a ward layer needs a 'name' column with each ward's name; "
            f"got the columns {[c for c in gdf.columns if c != gdf.geometry.name]}"
        )
        raise GISInputError(msg)
    kinds = set(gdf.geom_type.dropna()) - {"Polygon", "MultiPolygon"}
    if kinds:
        raise GISInputError(f"{layer_id}: expected ward polygons, got {sorted(kinds)} too")
    out = gdf.copy()
    for col in NEW_COLUMNS if layer_id == NEW_LAYER else OLD_COLUMNS:
        if col not in out.columns:
            out[col] = out["name"] if col == "gadm_units" else None
    return out


def seed_store(store: Store, profile: WardProfile, *, user: str = "system") -> list[str]:
    """Write the shipped ward layers into ``store`` where they are missing.

    Returns
    -------
    list[str]
        The ids of the layers written (empty when both were already there).
    """
    written = []
    for layer_id, loader, path, title in (
        (NEW_LAYER, load_new_wards, profile.new_wards, "Phường mới (từ 1/7/2025)"),
        (OLD_LAYER, load_old_wards, profile.old_wards, "Phường cũ (trước 1/7/2025)"),
    ):
        if store.has_layer(layer_id):
            continue
        prov = file_provenance(path)
        store.write_layer(
            layer_id,
            loader(profile),
            title=title,
            source=prov["source"],
            licence=prov["licence"],
            user=user,
            meta={"attribution": prov["attribution"], "file": path.name},
        )
        written.append(layer_id)
    return written


def shares(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, measure_crs: str) -> pd.DataFrame:
    """Overlay old and new wards: the share of each old ward's area inside each new ward.

    Parameters
    ----------
    old, new
        Ward polygons with a ``name`` column (``old`` also ``district``), any CRS.
    measure_crs
        A projected CRS in metres (VN-2000 TM-3) in which the areas are measured.

    Returns
    -------
    pandas.DataFrame
        ``new_ward, old_ward, old_district, area_km2, old_area_km2, share``, one row per
        overlapping pair, largest share first.
    """
    for arg, gdf in (("old", old), ("new", new)):
        if gdf.crs is None:
            raise GISInputError(f"{arg}: expected a GeoDataFrame with a CRS, got none")
        if "name" not in gdf.columns:
            raise GISInputError(f"{arg}: expected a 'name' column, got {list(gdf.columns)}")
    old_m = from_wgs84(old.to_crs(4326), measure_crs)
    new_m = from_wgs84(new.to_crs(4326), measure_crs)
    return _shares_core(old_m, new_m)


def _shares_core(old_m: gpd.GeoDataFrame, new_m: gpd.GeoDataFrame) -> pd.DataFrame:
    old_m = old_m.reset_index(drop=True)
    new_m = new_m.reset_index(drop=True)  # store layers are indexed by "fid"
    old_m = old_m.assign(
        old_ward=old_m["name"],
        old_district=old_m.get("district", ""),
        old_area_km2=old_m.geometry.area / 1e6,
        _old_id=range(len(old_m)),
    )[["old_ward", "old_district", "old_area_km2", "_old_id", "geometry"]]
    new_m = new_m.assign(new_ward=new_m["name"])[["new_ward", "geometry"]]
    # Only pairs whose boxes touch are overlaid.
    pairs = gpd.sjoin(old_m, new_m, predicate="intersects", how="inner")
    old_ids = pairs["_old_id"].unique()
    new_idx = pairs["index_right"].unique()
    pieces = gpd.overlay(
        old_m[old_m["_old_id"].isin(old_ids)],
        new_m.loc[new_idx],
        how="intersection",
        keep_geom_type=True,
    )
    pieces["area_km2"] = pieces.geometry.area / 1e6
    table = (
        pieces.groupby(["new_ward", "old_ward", "old_district", "_old_id"], as_index=False)
        .agg(area_km2=("area_km2", "sum"), old_area_km2=("old_area_km2", "first"))
        .drop(columns="_old_id")
    )
    table["share"] = table["area_km2"] / table["old_area_km2"]
    return table.sort_values("share", ascending=False, ignore_index=True)


def _target(new: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    target = new[new["name"] == name]
    if target.empty:
        close = difflib.get_close_matches(name, new["name"].astype(str).tolist(), n=3)
        raise NotFoundError(f"ward: no new ward named {name!r}; did you mean {close}?")
    return target


def merger_table(
    old: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    profile: WardProfile,
    *,
    name: str | None = None,
    min_share: float = MIN_SHARE,
) -> pd.DataFrame:
    """How the old wards around a new ward were divided among the new wards.

    Covers every old ward with at least ``min_share`` of its area in the new ward ``name``
    (the profile's ward by default), and every new ward those old wards went into.

    Returns
    -------
    pandas.DataFrame
        ``new_ward, old_ward, old_district, area_km2, old_area_km2, share, official,
        sliver``; ``official`` says whether the new ward's official ``before_merger`` list
        names the old ward; ``sliver`` marks an unlisted overlap under 10 %, which comes from
        the two datasets drawing a shared line (often a river bank) differently.
    """
    if not 0 <= min_share < 1:
        raise GISInputError(f"min_share: expected a fraction in [0, 1), got {min_share!r}")
    name = name or profile.name
    target = _target(new, name)
    near_old = old[old.intersects(target.geometry.union_all())]
    involved = shares(near_old, new, profile.measure_crs)
    involved = involved[involved["share"] >= min_share].copy()
    official = {
        ward: {name_key(n) for n in split_official_list(text)}
        for ward, text in zip(new["name"], new["before_merger"].fillna(""), strict=True)
    }
    involved["official"] = [
        name_key(o) in official.get(n, set())
        for n, o in zip(involved["new_ward"], involved["old_ward"], strict=True)
    ]
    involved["sliver"] = ~involved["official"] & (involved["share"] < SLIVER_SHARE)
    in_target = involved[(involved["new_ward"] == name) & ~involved["sliver"]]
    keep = involved["old_ward"].isin(in_target["old_ward"]) | (involved["new_ward"] == name)
    return involved[keep].reset_index(drop=True)


def ward_summary(
    old: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    profile: WardProfile,
    name: str | None = None,
) -> WardSummary:
    """A new ward's composition, measured vs official area (flagged beyond ±5 %), population."""
    name = name or profile.name
    target = _target(new, name)
    row = target.iloc[0]
    measured = float(from_wgs84(target, profile.measure_crs).geometry.area.sum() / 1e6)
    stated = _num(row.get("area_km2"))
    is_profile_ward = name == profile.name
    official = profile.official_area_km2 if is_profile_ward else None
    reference = official or stated
    ratio = measured / reference if reference else None
    table = merger_table(old, new, profile, name=name)
    composition = table[table["new_ward"] == name].reset_index(drop=True)
    listed = split_official_list(row.get("before_merger") or "")
    found = {name_key(o) for o in composition["old_ward"]}
    return WardSummary(
        name=name,
        province=str(row.get("province") or profile.province),
        measure_crs=profile.measure_crs,
        measured_area_km2=measured,
        stated_area_km2=stated,
        official_area_km2=official,
        official_source=profile.official_source if is_profile_ward else None,
        area_ratio=ratio,
        area_flag=ratio is not None and abs(ratio - 1) > AREA_TOLERANCE,
        population=_int(row.get("population")),
        official_population=profile.official_population if is_profile_ward else None,
        planned_population=profile.planned_population if is_profile_ward else None,
        before_merger=listed,
        composition=composition,
        missing_official=[n for n in listed if name_key(n) not in found],
        extra_computed=composition.loc[
            ~composition["official"] & ~composition["sliver"], "old_ward"
        ].tolist(),
    )


def _num(value: object) -> float | None:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return None if pd.isna(number) else float(number)


def _int(value: object) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def lookup_name(
    query: str,
    old: gpd.GeoDataFrame,
    new: gpd.GeoDataFrame,
    profile: WardProfile,
) -> list[LookupResult]:
    """Which new ward(s) an old ward now belongs to, however its name is written.

    ``"ThảoĐiền"``, ``"thao dien"`` and ``"Phường Thảo Điền"`` all find Thảo Điền. A GADM
    unit merged before 2025 (``"Bình An"``) finds the ward it joined. Results nearest the
    profile's ward come first; an old ward divided among new wards has ``split=True``.

    Raises
    ------
    NotFoundError
        When no old ward matches, with the closest names as suggestions.
    """
    if not isinstance(query, str) or not name_key(query):
        raise GISInputError(f"query: expected an old ward's name, got {query!r}")
    key = name_key(query)
    keys = old["name"].map(name_key)
    units = old["gadm_units"].astype(str).str.split("+")
    former = units.map(lambda us: len(us) > 1 and key in {name_key(u) for u in us})
    matches = pd.Series("", index=old.index)
    matches[former] = "former unit"
    matches[keys == key] = "exact"
    if not matches.any():
        close = difflib.get_close_matches(key, keys.unique().tolist(), n=3, cutoff=0.8)
        matches[keys.isin(close)] = "approximate"
    hits = old[matches != ""]
    if hits.empty:
        suggestions = difflib.get_close_matches(key, keys.unique().tolist(), n=3, cutoff=0.5)
        names = old.loc[keys.isin(suggestions), "name"].unique().tolist()
        raise NotFoundError(f"query: no old ward named {query!r}; closest: {names}")
    table = shares(hits, new, profile.measure_crs)
    results = []
    for idx, hit in hits.iterrows():
        rows = table[
            (table["old_ward"] == hit["name"]) & (table["old_district"] == hit["district"])
        ]
        kept = [
            (str(r.new_ward), float(r.share)) for r in rows.itertuples() if r.share >= MIN_SHARE
        ]
        results.append(
            (
                _distance_to(hits.loc[[idx]], new, profile),
                LookupResult(
                    old_ward=str(hit["name"]),
                    district=str(hit["district"]),
                    new_wards=kept,
                    split=sum(share >= SPLIT_SHARE for _, share in kept) > 1,
                    match=str(matches[idx]),
                ),
            )
        )
    return [result for _, result in sorted(results, key=lambda pair: pair[0])]


def _distance_to(gdf: gpd.GeoDataFrame, new: gpd.GeoDataFrame, profile: WardProfile) -> float:
    target = new.loc[new["name"] == profile.name, "geometry"]
    if target.empty:
        return 0.0
    return float(gdf.geometry.iloc[0].centroid.distance(target.iloc[0].centroid))


def lookup_point(
    lon: float, lat: float, old: gpd.GeoDataFrame, new: gpd.GeoDataFrame
) -> PointLookup:
    """The old and new wards containing a lon/lat point (EPSG:4326)."""
    for arg, value in (("lon", lon), ("lat", lat)):
        if not isinstance(value, int | float):
            raise GISInputError(f"{arg}: expected a number, got {value!r}")
    if 8 <= lon <= 24 and 102 <= lat <= 110:
        msg = f"lon, lat: ({lon}, {lat}) looks swapped; Vietnam is at lon 102–110, lat 8–24"
        raise GISInputError(msg)
    for arg, value, low, high in (("lon", lon, -180, 180), ("lat", lat, -90, 90)):
        if not low <= value <= high:
            raise GISInputError(f"{arg}: expected a number in [{low}, {high}], got {value!r}")
    point = Point(lon, lat)
    old_hit = old[old.to_crs(4326).contains(point)]
    new_hit = new[new.to_crs(4326).contains(point)]
    return PointLookup(
        lon=lon,
        lat=lat,
        old_ward=None if old_hit.empty else str(old_hit.iloc[0]["name"]),
        old_district=None if old_hit.empty else str(old_hit.iloc[0]["district"]),
        new_ward=None if new_hit.empty else str(new_hit.iloc[0]["name"]),
    )
