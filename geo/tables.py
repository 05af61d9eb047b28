"""Tabular exports: named tables to an Excel workbook or to CSV, for reports."""

from __future__ import annotations

import re
from collections.abc import Mapping
from io import BytesIO

import pandas as pd

from geo.errors import GISInputError

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula, quoted (CSV/formula injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot be taken for spreadsheet formulas."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(_safe_cell)
    return out


def _sheet_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", " ", name).strip()[:31] or "Sheet"
    candidate, n = base, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{base[:28]} {n}"
    used.add(candidate.lower())
    return candidate


def to_xlsx(tables: Mapping[str, pd.DataFrame]) -> bytes:
    """An Excel workbook with one sheet per table (names cut to Excel's 31 characters)."""
    if not tables:
        raise GISInputError("tables: expected at least one table, got none")
    buffer = BytesIO()
    used: set[str] = set()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in tables.items():
            if not isinstance(frame, pd.DataFrame):
                raise GISInputError(f"tables[{name!r}]: expected a DataFrame")
            safe_frame(frame).to_excel(writer, sheet_name=_sheet_name(name, used), index=False)
    return buffer.getvalue()


def to_csv(frame: pd.DataFrame) -> bytes:
    """A table as UTF-8 CSV with a byte-order mark, so Excel shows Vietnamese correctly."""
    return safe_frame(frame).to_csv(index=False).encode("utf-8-sig")
