"""Merger page: the ward's composition, the old wards' shares, areas and population."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.wards import SPLIT_SHARE
from ui import state
from ui.i18n import fmt_num, fmt_pct, t

lang = state.lang()
summary = state.summary()
table = state.merger()

st.title(t("merger.title", lang, ward=summary.name))
st.caption(t("merger.intro", lang, ward=summary.name, crs=summary.measure_crs))

# Areas -----------------------------------------------------------------------------------
st.subheader(t("merger.areas", lang))
measured, stated, official = st.columns(3)
measured.metric(
    t("merger.measured", lang) + f" · {summary.measure_crs}",
    f"{fmt_num(summary.measured_area_km2, lang, 2)} km²",
    border=True,
)
stated.metric(
    t("merger.stated", lang),
    f"{fmt_num(summary.stated_area_km2, lang, 2)} km²"
    if summary.stated_area_km2 is not None
    else t("merger.none", lang),
    border=True,
)
official.metric(
    t("merger.official", lang),
    f"{fmt_num(summary.official_area_km2, lang, 2)} km²"
    if summary.official_area_km2 is not None
    else t("merger.none", lang),
    help=t("merger.official_help", lang, source=summary.official_source)
    if summary.official_source
    else None,
    border=True,
)
reference = summary.official_area_km2 or summary.stated_area_km2
if summary.area_ratio is not None and reference:
    diff = fmt_pct(summary.area_ratio - 1, lang)
    diff = diff if diff.startswith("-") else "+" + diff
    if summary.area_flag:
        st.warning(
            t(
                "merger.area_flag",
                lang,
                measured=fmt_num(summary.measured_area_km2, lang, 2),
                reference=fmt_num(reference, lang, 2),
                diff=diff,
            ),
            icon=":material/warning:",
        )
    else:
        st.success(t("merger.area_ok", lang, diff=diff))

# Population ------------------------------------------------------------------------------
st.subheader(t("merger.population", lang))
pop_data, pop_official, pop_planned = st.columns(3)
pop_data.metric(t("merger.pop_dataset", lang), fmt_num(summary.population, lang), border=True)
pop_official.metric(
    t("merger.pop_official", lang),
    fmt_num(summary.official_population, lang),
    help=t("merger.official_help", lang, source=summary.official_source)
    if summary.official_source
    else None,
    border=True,
)
pop_planned.metric(
    t("merger.pop_planned", lang), fmt_num(summary.planned_population, lang), border=True
)

# Composition -----------------------------------------------------------------------------
st.subheader(t("merger.composition", lang))
composition = summary.composition
main = composition[~composition["sliver"]]
cols = {
    "old_ward": t("merger.col.old_ward", lang),
    "old_district": t("merger.col.district", lang),
    "area_km2": t("merger.col.area", lang),
    "old_area_km2": t("merger.col.old_area", lang),
    "share": t("merger.col.share", lang),
    "official": t("merger.col.official", lang),
}
shown = main[[c for c in cols if c in main.columns]].assign(share=main["share"] * 100)
shown = shown.rename(columns=cols)
st.dataframe(
    shown,
    hide_index=True,
    column_config={
        cols["share"]: st.column_config.NumberColumn(format="%.1f %%"),
        cols["area_km2"]: st.column_config.NumberColumn(format="%.2f"),
        cols["old_area_km2"]: st.column_config.NumberColumn(format="%.2f"),
    },
)
st.caption(t("merger.chart", lang, ward=summary.name))
st.bar_chart(
    shown,
    x=cols["old_ward"],
    y=cols["share"],
    horizontal=True,
    color="#c0392b",
    height=220,
)
if summary.missing_official:
    st.info(t("merger.missing", lang, names=", ".join(summary.missing_official)))
if summary.extra_computed:
    st.info(t("merger.extra", lang, names=", ".join(summary.extra_computed)))
if not summary.slivers.empty:
    st.caption(t("merger.slivers", lang, count=len(summary.slivers)))

# Splits ----------------------------------------------------------------------------------
st.subheader(t("merger.splits", lang))
rows = []
for (old_ward, district), group in table.groupby(["old_ward", "old_district"], sort=False):
    if old_ward not in set(main["old_ward"]):
        continue
    group = group.sort_values("share", ascending=False)
    parts = [
        f"{new} {fmt_pct(share, lang)}"
        for new, share in zip(group["new_ward"], group["share"], strict=True)
    ]
    split = int((group["share"] >= SPLIT_SHARE).sum()) > 1
    rows.append(
        {
            cols["old_ward"]: old_ward,
            cols["old_district"]: district,
            t("merger.col.new_wards", lang): ", ".join(parts),
            t("merger.col.split", lang): t("merger.yes", lang) if split else t("merger.no", lang),
        }
    )
st.table(pd.DataFrame(rows), hide_index=True)
