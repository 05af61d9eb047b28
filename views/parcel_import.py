"""Import parcel records: read a cadastral file, map its columns, preview, report rejected rows."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from geo import clearance, parcel_import, tables, vnenc, wards
from geo.errors import ConflictError, GISInputError, PermissionDeniedError
from geo.io import ImportResult, read_vector
from ui import state
from ui.i18n import t

lang = state.lang()
settings = state.get_settings()
st.title(t("imp.title", lang))
st.caption(t("imp.intro", lang))
st.caption(t("imp.demo_note", lang))
if "flash" in st.session_state:
    st.success(st.session_state.pop("flash"))


@st.cache_data(show_spinner=False, max_entries=2)
def _read(
    data: bytes, name: str, crs: str | None, swap: bool, repair: bool, encoding: str | None,
    max_bytes: int,
) -> ImportResult:  # fmt: skip
    return read_vector(
        data, filename=name, crs=crs, swap_xy=swap, repair=repair, encoding=encoding,
        max_bytes=max_bytes, keep_bad_rows=True,
    )  # fmt: skip


upload = st.file_uploader(
    t("imp.file", lang), type=["zip", "gpkg", "geojson", "json"], key="imp_file"
)
cols = st.columns([2, 3, 1.5, 1.5])
encoding = cols[0].selectbox(
    t("imp.encoding", lang), ["auto", *vnenc.ENCODINGS],
    format_func=lambda e: t("imp.encoding.auto", lang) if e == "auto" else vnenc.LABELS[e],
    key="imp_encoding",
)  # fmt: skip
crs = cols[1].text_input(t("imp.crs", lang), key="imp_crs", placeholder="EPSG:9210")
swap = cols[2].checkbox(t("imp.swap", lang), key="imp_swap")
repair = cols[3].checkbox(t("imp.repair", lang), key="imp_repair")
if upload is None:
    st.stop()

try:
    result = _read(
        upload.getvalue(), upload.name, crs.strip() or None, swap, repair,
        None if encoding == "auto" else encoding, settings.max_upload_mb * 1024 * 1024,
    )  # fmt: skip
except GISInputError as e:
    st.error(t("imp.read_error", lang, error=e))
    st.stop()
st.success(
    t("imp.read", lang, n=result.n_features, crs=result.source_crs,
      encoding=vnenc.LABELS.get(result.encoding or "utf-8", "UTF-8"))
)  # fmt: skip
if result.warnings:
    with st.expander(t("imp.warnings", lang), expanded=True):
        for note in result.warnings:
            st.text(f"• {note}")
raw = result.gdf.drop(columns=result.gdf.geometry.name)
st.dataframe(raw.head(8), width="stretch", hide_index=True)

st.subheader(t("imp.mapping", lang))
st.caption(t("imp.mapping_help", lang))
columns = list(raw.columns)
guess = parcel_import.suggest_mapping(columns)
mapping: dict[str, str | None] = {}
grid = st.columns(3)
for i, name in enumerate(parcel_import.IMPORTABLE):
    field = clearance.FIELD_BY_NAME[name]
    options = ["", *columns]
    default = guess.get(name, "")
    mapping[name] = (
        grid[i % 3].selectbox(
            field.label(lang) + (" *" if field.required else ""),
            options,
            index=options.index(default),
            format_func=lambda c: c or t("imp.none", lang),
            key=f"imp_map_{name}_{upload.name}",
        )
        or None
    )

override = None
if state.role() in clearance.OVERRIDE_ROLES:
    override = st.text_input(t("imp.override", lang), key="imp_override").strip() or None

store = state.get_store()
layer_id = clearance.PARCELS_LAYER
# The plan is built once for what the planner previews (this file, mapping and options) and
# the import applies exactly that plan, with the versions it read: if a colleague edits a
# parcel in between, the import is refused instead of overwriting their edit.
signature = hashlib.sha256(
    upload.getvalue() + repr((sorted(mapping.items()), encoding, crs, swap, repair, override,
                              state.role())).encode()
).hexdigest()  # fmt: skip
if st.session_state.get("imp_plan_sig") != signature:
    existing = store.read_layer(layer_id) if store.has_layer(layer_id) else None
    new_wards = state.read_layer(wards.NEW_LAYER)
    try:
        st.session_state["imp_plan"] = parcel_import.build_plan(
            result, mapping, existing, measure_crs=settings.profile.measure_crs,
            old_wards=state.read_layer(wards.OLD_LAYER), new_wards=new_wards,
            extent=parcel_import.ward_extent(new_wards, settings.profile), role=state.role(),
            override_reason=override,
        )  # fmt: skip
    except GISInputError as e:
        st.session_state.pop("imp_plan_sig", None)
        st.error(t("imp.plan_error", lang, error=e))
        st.stop()
    st.session_state["imp_plan_sig"] = signature
plan = st.session_state["imp_plan"]

st.subheader(t("imp.preview", lang))
st.info(t("imp.counts", lang, **plan.counts))
st.dataframe(plan.preview, width="stretch", hide_index=True, height=240)
if len(plan.rejected):
    st.subheader(t("imp.rejected", lang))
    st.dataframe(plan.rejected, width="stretch", hide_index=True)
    st.download_button(
        t("imp.rejected_csv", lang), tables.to_csv(plan.rejected),
        file_name=f"{upload.name}-rejected.csv", mime="text/csv", key="imp_rejected_csv",
    )  # fmt: skip

with st.form("imp_apply"):
    source = st.text_input(t("imp.source", lang), key="imp_source")
    licence = st.text_input(t("imp.licence", lang), key="imp_licence")
    go = st.form_submit_button(t("imp.apply", lang), type="primary")
if go:
    if not source.strip():
        st.error(t("imp.need_source", lang))
    elif not state.user_name():
        st.error(t("cl.e.no_user", lang))
    elif plan.counts["new"] + plan.counts["updated"] == 0:
        st.info(t("imp.nothing", lang))
    else:
        try:
            counts = parcel_import.apply_plan(
                store, layer_id, plan, user=state.user_name(), source=source.strip(),
                licence=licence.strip(), role=state.role(),
            )  # fmt: skip
        except ConflictError as e:
            st.session_state.pop("imp_plan_sig", None)  # the next preview reads the store again
            st.error(t("imp.conflict", lang, error=e))
            st.dataframe(pd.DataFrame(e.changes), hide_index=True)
        except PermissionDeniedError as e:
            st.error(t("cl.e.rule", lang, error=e))
        except GISInputError as e:
            st.error(t("imp.plan_error", lang, error=e))
        else:
            state.changed()
            st.session_state.pop("imp_plan_sig", None)
            st.session_state["flash"] = t("imp.done", lang, **counts)
            st.rerun()
