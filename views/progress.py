"""Clearance dashboard: stages, progress over time from the history, overdue work, money."""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import streamlit as st

from geo import clearance, io, tables
from ui import parcels as ui_parcels
from ui import state
from ui.i18n import fmt_num, fmt_pct, t

BILLION = 1e9

lang = state.lang()
today = ui_parcels.today()
st.title(t("db.title", lang))
layer_id = ui_parcels.pick_dataset(lang)
if layer_id is None:
    ui_parcels.empty_state(lang)
    st.stop()
ui_parcels.demo_banner(layer_id, lang)
st.caption(t("db.intro", lang, today=today.strftime("%d/%m/%Y")))

parcels = state.read_parcels(layer_id, today)
sheets = state.dashboard(layer_id, today, lang)  # computed once per change of the layer
stage_table = sheets["stages"]
overdue = sheets["overdue_by_person"]
money = sheets["money"]
total_row = money[money["stage"] == "total"].iloc[0]
totals = {str(k): float(total_row[k]) for k in ("committed", "paid_amount")}
colours = alt.Scale(
    domain=[s.label(lang) for s in clearance.STAGES], range=[s.color for s in clearance.STAGES]
)
order = [s.label(lang) for s in clearance.STAGES]

cols = st.columns(5)
cols[0].metric(t("db.m.parcels", lang), fmt_num(len(parcels), lang))
cols[1].metric(t("db.m.handed", lang), fmt_pct(clearance.handed_over_share(parcels), lang))
overdue_items = int(overdue["total"].sum()) if len(overdue) else 0
cols[2].metric(t("db.m.overdue", lang), fmt_num(overdue_items, lang))
cols[3].metric(t("db.m.complaints", lang), fmt_num(int(parcels["complaint_open"].sum()), lang))
paid_share = totals["paid_amount"] / totals["committed"] if totals["committed"] else None
cols[4].metric(t("db.m.paid", lang), fmt_pct(paid_share, lang))

left, right = st.columns(2, gap="large")
with left:
    st.subheader(t("db.stages", lang))
    chart = (
        alt.Chart(stage_table)
        .mark_bar()
        .encode(
            x=alt.X("area_m2:Q", title=t("db.col.area", lang)),
            y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=220)),
            color=alt.Color("label:N", scale=colours, legend=None),
            tooltip=[
                alt.Tooltip("label:N", title=t("db.col.stage", lang)),
                alt.Tooltip("parcels:Q", title=t("db.col.parcels", lang)),
                alt.Tooltip("area_m2:Q", title=t("db.col.area", lang), format=",.0f"),
                alt.Tooltip("area_pct:Q", title=t("db.col.pct", lang), format=".1f"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        stage_table.drop(columns="stage").rename(columns={
            "label": t("db.col.stage", lang), "parcels": t("db.col.parcels", lang),
            "area_m2": t("db.col.area", lang), "area_pct": t("db.col.pct", lang)}),
        hide_index=True, width="stretch",
        column_config={
            t("db.col.area", lang): st.column_config.NumberColumn(format="%.0f"),
            t("db.col.pct", lang): st.column_config.NumberColumn(format="%.1f"),
        },
    )  # fmt: skip
with right:
    st.subheader(t("db.progress", lang))
    progress = sheets["progress"].set_index("date")
    if progress.empty or len(progress) < 2:
        st.info(t("db.progress_empty", lang))
    else:
        long = progress.reset_index().melt("date", var_name="stage", value_name="area_m2")
        long["label"] = long["stage"].map(lambda c: ui_parcels.stage_label(c, lang))
        long["order"] = long["stage"].map({s.code: i for i, s in enumerate(clearance.STAGES)})
        area = (
            alt.Chart(long)
            .mark_area()
            .encode(
                x=alt.X("date:T", title=t("db.col.date", lang)),
                y=alt.Y("area_m2:Q", stack=True, title=t("db.col.area", lang)),
                color=alt.Color(
                    "label:N",
                    scale=colours,
                    sort=order,
                    legend=None,  # the same colours and names as the chart on the left
                ),
                order=alt.Order("order:Q", sort="descending"),
                tooltip=["date:T", "label:N", alt.Tooltip("area_m2:Q", format=",.0f")],
            )
        )
        st.altair_chart(area, width="stretch")
        st.caption(t("db.progress_note", lang))

left, right = st.columns(2, gap="large")
with left:
    st.subheader(t("db.overdue", lang))
    if overdue.empty:
        st.success(t("db.overdue_none", lang))
    else:
        bars = overdue.melt(
            "responsible", value_vars=["parcels", "tasks"], var_name="kind", value_name="n"
        )
        kinds = [t("db.col.p_overdue", lang), t("db.col.t_overdue", lang)]
        bars["kind"] = bars["kind"].map(dict(zip(["parcels", "tasks"], kinds, strict=True)))
        chart = (
            alt.Chart(bars)
            .mark_bar()
            .encode(
                x=alt.X("n:Q", stack=True, title=None),
                y=alt.Y("responsible:N", sort="-x", title=None),
                color=alt.Color(
                    "kind:N",
                    title=None,
                    legend=alt.Legend(orient="bottom"),
                    scale=alt.Scale(domain=kinds, range=["#e31a1c", "#fd8d3c"]),
                ),
                tooltip=["responsible:N", "kind:N", "n:Q"],
            )
        )
        st.altair_chart(chart, width="stretch")
        st.dataframe(
            overdue.rename(columns={
                "responsible": t("db.col.person", lang), "parcels": t("db.col.p_overdue", lang),
                "tasks": t("db.col.t_overdue", lang), "total": t("db.col.total", lang),
                "oldest": t("db.col.oldest", lang)}),
            hide_index=True, width="stretch",
        )  # fmt: skip
with right:
    st.subheader(t("db.money", lang))
    stages_only = money[(money["stage"] != "total") & (money["committed"] > 0)].copy()
    stages_only["label"] = stages_only["stage"].map(lambda c: ui_parcels.stage_label(c, lang))
    long_money = stages_only.melt(
        "label", value_vars=["committed", "paid_amount"], var_name="kind", value_name="vnd"
    )
    long_money["amount"] = long_money["vnd"] / BILLION
    long_money["kind"] = long_money["kind"].map(
        {"committed": t("db.committed", lang), "paid_amount": t("db.paid", lang)}
    )
    chart = (
        alt.Chart(long_money)
        .mark_bar()
        .encode(
            y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=220)),
            x=alt.X("amount:Q", title=t("db.col.amount", lang)),
            yOffset="kind:N",
            color=alt.Color(
                "kind:N",
                title=None,
                legend=alt.Legend(orient="bottom"),
                scale=alt.Scale(range=["#9ecae1", "#31a354"]),
            ),
            tooltip=["label:N", "kind:N", alt.Tooltip("amount:Q", format=",.2f")],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.caption(
        f"{t('db.committed', lang)}: {fmt_num(totals['committed'] / BILLION, lang, 2)} · "
        f"{t('db.paid', lang)}: {fmt_num(totals['paid_amount'] / BILLION, lang, 2)} "
        f"({fmt_pct(paid_share, lang)})"
    )

st.subheader(t("db.export", lang))
named = {t(f"db.table.{name}", lang): frame for name, frame in sheets.items()}
export_cols = st.columns([2, 2, 1, 2, 2])
export_cols[0].download_button(
    t("db.xlsx", lang), lambda: tables.to_xlsx(named), file_name=f"{layer_id}-tien-do.xlsx",
    mime=tables.XLSX_MIME, key="db_xlsx",
)  # fmt: skip
table = export_cols[1].selectbox(
    t("db.csv_table", lang), list(sheets), format_func=lambda n: t(f"db.table.{n}", lang),
    key="db_csv_table", label_visibility="collapsed",
)  # fmt: skip
export_cols[2].download_button(
    t("db.csv", lang), lambda: tables.to_csv(sheets[table]), file_name=f"{layer_id}-{table}.csv",
    mime="text/csv", key="db_csv",
)  # fmt: skip


def _parcel_file(layer: str, fmt: str) -> Callable[[], bytes]:
    """The parcels as a GIS file, written only when the button is pressed."""
    return lambda: state.export_parcels(layer, fmt)[0]


for col, fmt in zip(export_cols[3:], ("gpkg", "shp"), strict=True):
    info = io.SUPPORTED_FORMATS[fmt]
    col.download_button(  # the file is written only when asked for
        t("db.gis", lang, fmt=info.label), _parcel_file(layer_id, fmt),
        file_name=f"{layer_id}{info.extensions[0]}", mime=info.mime, key=f"db_{fmt}",
    )  # fmt: skip
