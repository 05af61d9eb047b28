"""Small value checks shared by the record modules (clearance, floods, the CAP feed)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def is_blank(value: Any) -> bool:
    """Whether a cell holds nothing: None, NA, NaT, NaN or only whitespace."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()
