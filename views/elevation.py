"""Elevation page: a DEM, low street segments, and what a water level would flood."""

from __future__ import annotations

import streamlit as st

from ui import state
from ui.i18n import t

st.title(t("nav.elevation", state.lang()))
