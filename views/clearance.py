"""Site clearance page: parcels coloured by stage, filters, and the parcel record to update."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import streamlit as st
from streamlit_folium import st_folium

import layers
from geo import clearance, viewport, wards
from geo.names import name_key
from ui import bigmap, state
from ui import parcels as ui_parcels
from ui.i18n import fmt_num, fmt_pct, t
from ui.mapview import build_map

MAP_HEIGHT = 600


def _filtered(data: state.ParcelData, lang: str) -> gpd.GeoDataFrame:
    """The parcels the filters keep (the shared frame itself when no filter is set)."""
    gdf = data.frame
    stage_codes = [s.code for s in clearance.STAGES]
    cols = st.columns([3, 2, 2, 1.3, 1.3])
    stages = cols[0].multiselect(
        t("cl.f.stage", lang), stage_codes, format_func=lambda c: ui_parcels.stage_label(c, lang),
        key="cl_stage", placeholder=t("cl.f.all", lang),
    )  # fmt: skip
    person = cols[1].selectbox(
        t("cl.f.responsible", lang), ["", *data.people],
        format_func=lambda p: p or t("cl.f.all", lang), key="cl_person",
    )  # fmt: skip
    search = cols[2].text_input(t("cl.f.search", lang), key="cl_search")
    overdue = cols[3].checkbox(t("cl.f.overdue", lang), key="cl_overdue")
    complaint = cols[4].checkbox(t("cl.f.complaint", lang), key="cl_complaint")
    if not (stages or person or overdue or complaint or search.strip()):
        return gdf
    keep = np.ones(len(gdf), dtype=bool)
    if stages:
        keep &= gdf["stage"].isin(stages).to_numpy()
    if person:
        keep &= (gdf["responsible"] == person).to_numpy()
    if overdue:
        keep &= gdf["any_overdue"].to_numpy(dtype=bool)
    if complaint:
        keep &= gdf["complaint_open"].to_numpy(dtype=bool)
    if search.strip():
        needle = search.strip().lower()
        keep &= (
            gdf["key"].str.lower().str.contains(needle, regex=False)
            | gdf["holder"].fillna("").str.lower().str.contains(needle, regex=False)
        ).to_numpy(dtype=bool)
    return gdf[keep]


def _metrics(shown: gpd.GeoDataFrame, data: state.ParcelData, lang: str) -> None:
    totals = (
        data.totals
        if shown is data.frame
        else state.parcel_totals(shown, data.area.loc[shown.index])
    )
    cols = st.columns(5)
    cols[0].metric(t("cl.m.parcels", lang), fmt_num(int(totals["parcels"]), lang))
    cols[1].metric(t("cl.m.area", lang), fmt_num(totals["area"], lang))
    cols[2].metric(t("cl.m.handed", lang), fmt_pct(totals["handed"], lang))
    cols[3].metric(t("cl.m.overdue", lang), fmt_num(int(totals["overdue"]), lang))
    cols[4].metric(t("cl.m.complaints", lang), fmt_num(int(totals["complaints"]), lang))


MAP_KEY = "cl_map"
PICK_LIMIT = 300  # parcels offered in the picker; the search and the map narrow the rest


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

if state.parcels_in_memory(layer_id, ui_parcels.today()):
    data = state.parcel_index(layer_id, ui_parcels.today())
else:  # only the first read shows a spinner: one on every rerun would shift the page
    with st.spinner(t("cl.loading", lang)):
        data = state.parcel_index(layer_id, ui_parcels.today())
parcels, index = data.frame, data.index
with st.container(border=True):
    shown = _filtered(data, lang)
_metrics(shown, data, lang)

specs = {s.id: s for s in layers.specs_for(state.catalog())}
spec = specs[layer_id]
map_key = f"{MAP_KEY}_{layer_id}"
map_col, panel_col = st.columns([6, 4], gap="medium")
with map_col:
    if shown.empty:
        st.info(t("cl.none_match", lang))
    bounds = index.bounds() if len(index) else None
    context = {}  # the old ward the parcels lie in, for orientation without a basemap
    old = state.read_layer(wards.OLD_LAYER, bbox=bounds)
    wanted = name_key(settings.profile.focus or "")
    focus = old[old["name"].map(lambda n: name_key(str(n))) == wanted] if len(old) else old
    if len(focus):
        context[wards.OLD_LAYER] = focus
    fmap = build_map(
        context, lang=lang, basemap=settings.basemap, popups=False, bounds=bounds,
        height_px=MAP_HEIGHT, dynamic=[spec],
    )  # fmt: skip
    # Only the window's parcels (or, zoomed out, a grid of counts) go to the browser: the
    # base map stays, the feature group is swapped as the map moves.
    view = bigmap.window(map_key, bounds, 900, MAP_HEIGHT)
    mask = None if shown is parcels else np.isin(index.fids, shown.index.to_numpy())
    content = viewport.view_content(index, view, keep=mask)
    config = bigmap.layer_config(
        spec, [(s.code, s.label(lang)) for s in clearance.STAGES],
        [(f, t(f"cl.flag.{f}", lang)) for f in state.PARCEL_FLAGS], lang,
        [clearance.FIELD_BY_NAME[name].label(lang) for name in state.PARCEL_DETAILS],
    )  # fmt: skip
    result = st_folium(
        fmap, key=map_key, feature_group_to_add=bigmap.feature_group(content, config),
        returned_objects=["last_active_drawing", "last_object_clicked", "bounds", "zoom"],
        use_container_width=True, height=MAP_HEIGHT,
    )  # fmt: skip
    st.caption(
        t(f"cl.view.{content.mode}", lang, n=fmt_num(content.in_view, lang),
          cells=fmt_num(content.shapes, lang))
        + " · " + t("map.sources", lang, sources="; ".join(
            [spec.attribution] + ([specs[wards.OLD_LAYER].attribution] if context else [])))
    )  # fmt: skip

# A click opens a parcel once: the click's position tells a new click from a rerun, and only
# the parcel layer's shapes count (the old-ward outline and grid cells carry no parcel id).
clicked = ((result or {}).get("last_active_drawing") or {}).get("properties") or {}
where = (result or {}).get("last_object_clicked") or {}
click = (clicked.get("layer"), clicked.get("p"), where.get("lat"), where.get("lng"))
# (the id comes from the browser: anything but a whole number is not a parcel)
is_parcel = clicked.get("layer") == layer_id and type(clicked.get("p")) is int
if is_parcel and click != st.session_state.get("cl_clicked"):
    st.session_state["cl_clicked"] = click
    st.session_state["cl_pick"] = int(clicked["p"])

with panel_col:
    # A picker of every parcel would send 100,000 names to the browser on every rerun: it
    # offers the filtered parcels in the map's window first, up to PICK_LIMIT.
    positions = index.within(view.padded(0.0))
    in_view = index.fids[positions if mask is None else positions[mask[positions]]]
    picks = [int(f) for f in in_view[:PICK_LIMIT]]
    if len(picks) < PICK_LIMIT:  # then the first of the rest, in order
        taken = set(picks)
        more = (int(f) for f in shown.index[: 2 * PICK_LIMIT] if int(f) not in taken)
        picks += [f for _, f in zip(range(PICK_LIMIT - len(picks)), more, strict=False)]
    options = [None, *picks]
    if st.session_state.get("cl_pick") not in options:
        options.append(st.session_state["cl_pick"])
    keys = parcels["key"]
    fid = st.selectbox(
        t("cl.pick", lang), options,
        format_func=lambda f: t("cl.pick_none", lang) if f is None else str(keys.get(f, f)),
        key="cl_pick",
    )  # fmt: skip
    if len(shown) > PICK_LIMIT:
        st.caption(t("cl.pick_more", lang, n=fmt_num(PICK_LIMIT, lang),
                     total=fmt_num(len(shown), lang)))  # fmt: skip
    if fid is None:
        st.caption(t("cl.hint", lang))
    else:
        with st.container(border=True):
            ui_parcels.record_panel(layer_id, int(fid), lang)
