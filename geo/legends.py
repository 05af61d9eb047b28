"""Classes and credits the maps share with the geoprocessing: flood depth classes and their
colours, and the credit lines data licences require. Light on purpose: the layer registry
imports it at start-up, before any page needs osmnx, networkx or rasterio."""

from __future__ import annotations

from typing import Any

from geo.values import is_blank

DEPTH_CLASSES = ("unknown", "10-70", "71-150", "150+")
"""PetaBencana's depth classes (cm); reports shallower than 10 cm count in the first class."""
DEPTH_COLOURS = {"unknown": "#4a90d9", "10-70": "#f2c12e", "71-150": "#f07f1c", "150+": "#d7191c"}
GLO30_ATTRIBUTION = (
    "produced using Copernicus WorldDEM-30 © DLR e.V. 2010-2014 and © Airbus Defence and "
    "Space GmbH 2014-2018 provided under COPERNICUS by the European Union and ESA; "
    "all rights reserved"
)
"""The credit the Copernicus DEM licence asks for on products made with GLO-30 data."""


def depth_class(depth_cm: Any) -> str:
    """PetaBencana's class of a depth: unknown, 10-70, 71-150 or 150+ (cm)."""
    if is_blank(depth_cm):
        return "unknown"
    depth = float(depth_cm)
    if depth <= 70:
        return "10-70"
    if depth <= 150:
        return "71-150"
    return "150+"
