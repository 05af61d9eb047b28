"""Streamlit-side helpers: texts in two languages, cached state and the map builder."""
