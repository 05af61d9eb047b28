"""Lookup page: which new ward an old ward, or a point, now belongs to."""

from __future__ import annotations

import streamlit as st

from geo.errors import GISInputError, NotFoundError
from geo.wards import NEW_LAYER
from ui import state
from ui.i18n import fmt_pct, t

lang = state.lang()
settings = state.get_settings()

st.title(t("lookup.title", lang))
st.caption(t("lookup.intro", lang))

by_name, by_point = st.tabs([t("lookup.by_name", lang), t("lookup.by_point", lang)])

with by_name:
    query = st.text_input(
        t("lookup.name_label", lang),
        placeholder="Thảo Điền",
        help=t("lookup.name_help", lang),
        key="lookup_query",
    )
    if query.strip():
        try:
            results = state.lookup_name(query)
        except NotFoundError as e:
            st.info(t("lookup.not_found", lang, query=query.strip()))
            st.caption(str(e))
            results = []
        except GISInputError as e:
            st.error(str(e))
            results = []
        for result in results:
            names = {"old": result.old_ward, "district": result.district}
            if result.split:
                parts = ", ".join(
                    f"{new} {fmt_pct(share, lang)}" for new, share in result.new_wards
                )
                st.warning(
                    t("lookup.split", lang, parts=parts, **names), icon=":material/call_split:"
                )
            elif result.new_wards:
                new = result.new_wards[0][0]
                st.success(t("lookup.moved", lang, new=new, **names), icon=":material/east:")
            else:
                st.info(t("lookup.nowhere", lang, **names))
            if result.match == "former unit":
                st.caption(t("lookup.former_unit", lang, old=result.old_ward))
            elif result.match == "approximate":
                st.caption(t("lookup.approximate", lang))

with by_point:
    new = state.read_layer(NEW_LAYER)
    ward = new[new["name"] == settings.profile.name] if "name" in new.columns else new.iloc[:0]
    start = ward.geometry.iloc[0].representative_point() if not ward.empty else None
    lat_col, lon_col = st.columns(2)
    lat = lat_col.number_input(
        t("lookup.lat", lang),
        min_value=-90.0,
        max_value=90.0,
        value=round(start.y, 5) if start is not None else 10.787,
        step=0.001,
        format="%.5f",
        key="lookup_lat",
    )
    lon = lon_col.number_input(
        t("lookup.lon", lang),
        min_value=-180.0,
        max_value=180.0,
        value=round(start.x, 5) if start is not None else 106.735,
        step=0.001,
        format="%.5f",
        key="lookup_lon",
    )
    try:
        point = state.lookup_point(float(lon), float(lat))
    except GISInputError as e:
        st.error(str(e))
    else:
        if point.old_ward is None and point.new_ward is None:
            st.info(t("lookup.point_none", lang))
        else:
            old_text = (
                f"{point.old_ward} ({point.old_district})"
                if point.old_ward
                else t("lookup.unknown", lang)
            )
            old_col, new_col = st.columns(2)
            old_col.metric(t("lookup.point_old", lang), old_text, border=True)
            new_col.metric(
                t("lookup.point_new", lang),
                point.new_ward or t("lookup.unknown", lang),
                border=True,
            )
