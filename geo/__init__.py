"""Geoprocessing, I/O, storage and analysis for the ward GIS (never imports streamlit)."""

__version__ = "0.1.0"
