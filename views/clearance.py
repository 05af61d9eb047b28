"""Site clearance page: parcels coloured by stage, filters, and the parcel record to update."""

from __future__ import annotations

import geopandas as gpd
import streamlit as st
from streamlit_folium import st_folium

import layers
from geo import clearance, wards
from geo.names import name_key
from ui import parcels as ui_parcels
from ui import state
from ui.i18n import fmt_num, fmt_pct, t
from ui.mapview import build_map

MAP_HEIGHT = 600


def _filtered(gdf: gpd.GeoDataFrame, lang: str) -> gpd.GeoDataFrame:
    stage_codes = [s.code for s in clearance.STAGES]
    cols = st.columns([3, 2, 2, 1.3, 1.3])
    stages = cols[0].multiselect(
        t("cl.f.stage", lang), stage_codes, format_func=lambda c: ui_parcels.stage_label(c, lang),
        key="cl_stage", placeholder=t("cl.f.all", lang),
    )  # fmt: skip
    people = sorted({str(p) for p in gdf["responsible"].dropna()})
    person = cols[1].selectbox(
        t("cl.f.responsible", lang), ["", *people],
        format_func=lambda p: p or t("cl.f.all", lang), key="cl_person",
    )  # fmt: skip
    search = cols[2].text_input(t("cl.f.search", lang), key="cl_search")
    overdue = cols[3].checkbox(t("cl.f.overdue", lang), key="cl_overdue")
    complaint = cols[4].checkbox(t("cl.f.complaint", lang), key="cl_complaint")
    keep = gdf.index == gdf.index
    if stages:
        keep &= gdf["stage"].isin(stages)
    if person:
        keep &= gdf["responsible"] == person
    if overdue:
        keep &= gdf["any_overdue"]
    if complaint:
        keep &= gdf["complaint_open"]
    if search.strip():
        needle = search.strip().lower()
        keep &= gdf["key"].str.lower().str.contains(needle, regex=False) | gdf["holder"].fillna(
            ""
        ).str.lower().str.contains(needle, regex=False)
    return gdf[keep]


def _metrics(shown: gpd.GeoDataFrame, lang: str) -> None:
    cols = st.columns(5)
    cols[0].metric(t("cl.m.parcels", lang), fmt_num(len(shown), lang))
    cols[1].metric(t("cl.m.area", lang), fmt_num(float(clearance.area_of(shown).sum()), lang))
    cols[2].metric(t("cl.m.handed", lang), fmt_pct(clearance.handed_over_share(shown), lang))
    cols[3].metric(t("cl.m.overdue", lang), fmt_num(int(shown["any_overdue"].sum()), lang))
    cols[4].metric(t("cl.m.complaints", lang), fmt_num(int(shown["complaint_open"].sum()), lang))


lang = state.lang()
settings = state.get_settings()
st.title(t("cl.title", lang))
if "flash" in st.session_state:
    st.success(st.session_state.pop("flash"))
layer_id = ui_parcels.pick_dataset(lang)
if layer_id is None:
    ui_parcels.empty_state(lang)
    st.stop()
ui_parcels.demo_banner(layer_id, lang)
st.caption(t("cl.intro", lang))

parcels = state.read_parcels(layer_id, ui_parcels.today())
parcels["stage_label"] = parcels["stage"].map(lambda c: ui_parcels.stage_label(c, lang))
with st.container(border=True):
    shown = _filtered(parcels, lang)
_metrics(shown, lang)

spec = next(s for s in layers.specs_for(state.catalog()) if s.id == layer_id)
map_col, panel_col = st.columns([6, 4], gap="medium")
with map_col:
    if shown.empty:
        st.info(t("cl.none_match", lang))
    bounds = tuple(parcels.total_bounds) if len(parcels) else None
    context = {}  # the old ward the parcels lie in, for orientation without a basemap
    old = state.read_layer(wards.OLD_LAYER, bbox=bounds)
    wanted = name_key(settings.profile.focus or "")
    focus = old[old["name"].map(lambda n: name_key(str(n))) == wanted] if len(old) else old
    if len(focus):
        context[wards.OLD_LAYER] = focus
    fmap = build_map(
        {**context, layer_id: shown}, lang=lang, basemap=settings.basemap, specs=[spec],
        popups=False, bounds=bounds, height_px=MAP_HEIGHT,
    )  # fmt: skip
    result = st_folium(
        fmap, key=f"cl_map_{layer_id}",
        returned_objects=["last_active_drawing", "last_object_clicked"],
        use_container_width=True, height=MAP_HEIGHT,
    )  # fmt: skip
    credits = [spec.attribution] + (
        [s.attribution for s in layers.specs_for(state.catalog()) if s.id == wards.OLD_LAYER]
        if context
        else []
    )
    st.caption(t("map.sources", lang, sources="; ".join(credits)))

# A click opens a parcel once: the click's position tells a new click from a rerun, and only
# features of the parcel layer count (the old-ward outline has fids too).
clicked = ((result or {}).get("last_active_drawing") or {}).get("properties") or {}
where = (result or {}).get("last_object_clicked") or {}
click = (clicked.get("layer"), clicked.get("fid"), where.get("lat"), where.get("lng"))
is_parcel = clicked.get("layer") == layer_id and clicked.get("fid") is not None
if is_parcel and click != st.session_state.get("cl_clicked"):
    st.session_state["cl_clicked"] = click
    st.session_state["cl_pick"] = int(clicked["fid"])

with panel_col:
    options = [None, *[int(f) for f in shown.index]]
    if st.session_state.get("cl_pick") not in options:
        options.append(st.session_state["cl_pick"])
    keys = dict(zip(parcels.index.astype(int), parcels["key"], strict=True))
    fid = st.selectbox(
        t("cl.pick", lang), options,
        format_func=lambda f: t("cl.pick_none", lang) if f is None else keys.get(f, str(f)),
        key="cl_pick",
    )  # fmt: skip
    if fid is None:
        st.caption(t("cl.hint", lang))
    else:
        with st.container(border=True):
            ui_parcels.record_panel(layer_id, int(fid), lang)
