"""Data page: the layer catalogue, importing a file into the store (admins), exporting a
layer, and removing one (admins)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

import layers
from geo.catalog import PROTECTED
from geo.errors import GISInputError, NotFoundError, PermissionDeniedError, StoreError
from geo.io import SUPPORTED_FORMATS
from geo.store import check_layer_id
from ui import state
from ui.i18n import t
from ui.mapview import build_map

PREVIEW_ID = "_preview"
MB = 1024 * 1024

lang = state.lang()
settings = state.get_settings()
registered = {spec.id: spec for spec in layers.registry()}

st.title(t("data.title", lang))
st.info(t("data.licence", lang), icon=":material/gavel:")
if "data_flash" in st.session_state:
    st.success(st.session_state.pop("data_flash"))

# Catalogue -------------------------------------------------------------------------------
st.subheader(t("data.catalog", lang))
infos = state.catalog()
catalog = pd.DataFrame(
    [
        {
            t("data.col.id", lang): info.layer_id,
            t("data.col.title", lang): registered[info.layer_id].label(lang)
            if info.layer_id in registered
            else info.title,
            t("data.col.count", lang): info.feature_count,
            t("data.col.updated", lang): info.updated_at[:16].replace("T", " "),
            t("data.col.source", lang): info.source,
            t("data.col.licence", lang): info.licence,
        }
        for info in infos
    ]
)
st.dataframe(catalog, hide_index=True)

# Import (admins; geo.catalog checks the role again) ------------------------------------------
st.subheader(t("data.import", lang))
upload_ext = sorted(
    {ext.lstrip(".") for fmt in SUPPORTED_FORMATS.values() for ext in fmt.extensions} - {"shp"}
)
labels = ", ".join(fmt.label for fmt in SUPPORTED_FORMATS.values())
upload, crs, swap, repair = None, "", False, False
if not state.can("layer.import"):
    st.caption(t("data.admin_only", lang))
else:
    upload = st.file_uploader(
        t("data.upload", lang, formats=labels),
        type=upload_ext,
        max_upload_size=settings.max_upload_mb,
        key="data_upload",
    )
    crs_col, swap_col, repair_col = st.columns([2, 1, 2], vertical_alignment="bottom")
    crs = crs_col.text_input(t("data.crs", lang), help=t("data.crs_help", lang), key="data_crs")
    swap = swap_col.checkbox(t("data.swap", lang), key="data_swap")
    repair = repair_col.checkbox(t("data.repair", lang), key="data_repair")

if upload is not None:
    try:
        result = state.read_upload(
            upload.getvalue(),
            upload.name,
            crs.strip() or None,
            swap,
            repair,
            settings.max_upload_mb * MB,
        )
    except GISInputError as e:
        st.error(str(e))
    else:
        for warning in result.warnings:
            st.warning(warning)
        st.caption(t("data.preview", lang, count=result.n_features, crs=result.source_crs))
        columns = [c for c in result.gdf.columns if c != result.gdf.geometry.name]
        preview_spec = layers.generic(PREVIEW_ID, t("data.preview_layer", lang), columns[:12])
        map_col, table_col = st.columns(2, gap="medium")
        with map_col:
            st_folium(
                build_map(
                    {PREVIEW_ID: result.gdf},
                    lang=lang,
                    specs=[preview_spec],
                    basemap=settings.basemap,
                    height_px=380,
                ),
                key="preview_map",
                returned_objects=[],
                use_container_width=True,
                height=380,
            )
        table_col.dataframe(
            pd.DataFrame(result.gdf[columns]).head(200), hide_index=True, height=380
        )

        existing = [info.layer_id for info in infos]
        target = st.radio(
            t("data.target", lang),
            ["new", "replace"],
            format_func=lambda v: t(f"data.target_{v}", lang),
            horizontal=True,
            key="data_target",
        )
        id_col, title_col = st.columns(2)
        if target == "new":
            layer_id = id_col.text_input(
                t("data.new_id", lang), help=t("data.new_id_help", lang), key="data_new_id"
            )
        else:
            layer_id = id_col.selectbox(t("data.replace_id", lang), existing, key="data_replace_id")
        title = title_col.text_input(
            t("data.layer_title", lang), value=upload.name, key="data_title"
        )
        source_col, licence_col = st.columns(2)
        source = source_col.text_input(t("data.source", lang), key="data_source")
        licence = licence_col.text_input(t("data.source_licence", lang), key="data_licence")
        if st.button(t("data.write", lang), type="primary", key="data_write"):
            try:
                layer_id = check_layer_id((layer_id or "").strip())
                if target == "new" and layer_id in existing:
                    st.error(t("data.exists", lang, layer=layer_id))
                else:
                    count = state.write_layer(
                        layer_id,
                        result.gdf,
                        title=title or layer_id,
                        source=source or upload.name,
                        licence=licence,
                        mode="replace",
                    )
                    st.session_state["data_flash"] = t(
                        "data.written", lang, count=count, layer=layer_id
                    )
                    st.rerun()
            except (GISInputError, PermissionDeniedError, StoreError) as e:
                st.error(str(e))

# Export ----------------------------------------------------------------------------------
st.subheader(t("data.export", lang))
layer_col, format_col, button_col = st.columns([2, 2, 2], vertical_alignment="bottom")
export_id = layer_col.selectbox(
    t("data.export_layer", lang), [info.layer_id for info in infos], key="data_export_layer"
)
fmt = format_col.selectbox(
    t("data.export_format", lang),
    list(SUPPORTED_FORMATS),
    format_func=lambda f: SUPPORTED_FORMATS[f].label,
    key="data_export_format",
)
if export_id:
    try:
        payload, filename, mime = state.export(export_id, fmt)
    except (GISInputError, StoreError) as e:
        st.error(str(e))
    else:
        button_col.download_button(
            t("data.download", lang, filename=filename),
            payload,
            file_name=filename,
            mime=mime,
            icon=":material/download:",
            key="data_download",
        )

# Remove (admins; geo.catalog checks the role again) ------------------------------------------
if state.can("layer.delete"):
    st.subheader(t("data.remove", lang))
    counts = {i.layer_id: i.feature_count for i in infos if i.layer_id not in PROTECTED}
    doomed = st.selectbox(
        t("data.remove_layer", lang), list(counts), index=None, key="data_remove_layer"
    )
    if doomed is not None and doomed in counts:
        sure = st.checkbox(
            t("data.remove_sure", lang, layer=doomed, count=counts[doomed]),
            key=f"data_remove_sure_{doomed}",
        )
        if st.button(t("data.remove_button", lang), key="data_remove", disabled=not sure,
                     icon=":material/delete:"):  # fmt: skip
            try:
                removed = state.remove_layer(doomed)
            except (GISInputError, NotFoundError, PermissionDeniedError, StoreError) as e:
                st.error(str(e))
            else:
                st.session_state["data_flash"] = t(
                    "data.removed", lang, layer=doomed, count=removed
                )
                st.rerun()
