"""Layer import and removal for admins: the role-checked ways to write whole layers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd

from geo import auth, wards
from geo.errors import GISInputError
from geo.store import Store, WriteMode, check_layer_id

PROTECTED = (wards.NEW_LAYER, wards.OLD_LAYER)
"""The ward layers every page reads: replace them with better data, never remove them."""


def import_layer(
    store: Store,
    layer_id: str,
    gdf: gpd.GeoDataFrame,
    *,
    user: str,
    role: str,
    title: str | None = None,
    source: str = "",
    licence: str = "",
    mode: WriteMode = "replace",
    meta: Mapping[str, Any] | None = None,
) -> int:
    """Write a checked file's features as a layer, in one transaction; return the count.

    Raises
    ------
    PermissionDeniedError
        If ``role`` may not import layers (only admins may).
    GISInputError
        For a bad layer id or features the store refuses; nothing is written.
    """
    auth.require(role, "layer.import")
    check_layer_id(layer_id)
    return store.write_layer(
        layer_id, wards.conform_layer(layer_id, gdf), title=title or layer_id, source=source,
        licence=licence, mode=mode, user=user, meta=meta, role=role,
    )  # fmt: skip


def remove_layer(store: Store, layer_id: str, *, user: str, role: str) -> int:
    """Remove a layer and its features (history and audit stay); return how many it held.

    Raises
    ------
    PermissionDeniedError
        If ``role`` may not remove layers (only admins may).
    GISInputError
        For the ward layers, which are replaced, not removed.
    NotFoundError
        If there is no such layer.
    """
    auth.require(role, "layer.delete")
    if check_layer_id(layer_id) in PROTECTED:
        msg = f"layer_id: {layer_id!r} holds the ward boundaries every page uses; replace it"
        raise GISInputError(msg)
    count = store.layer_info(layer_id).feature_count
    store.delete_layer(layer_id, user=user, role=role)
    return count
