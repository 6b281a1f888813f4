"""Text cells that a spreadsheet would run as a formula, written so it shows them as text.

A CSV or xlsx cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to Excel and LibreOffice (OWASP's "CSV injection"). simbatch writes such
a text cell with a leading apostrophe, which every spreadsheet shows as text, and reads the
apostrophe back off (``unguard``), so ``read_history`` reads what ``write_*`` wrote.
Numbers are never guarded: ``-3`` in a numeric column stays a number.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FORMULA_STARTS", "guard", "guard_frame", "unguard"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""The first characters that make a spreadsheet read a cell as a formula."""


def guard(text: str) -> str:
    """``text`` as a cell a spreadsheet shows as text: a leading apostrophe when it would
    start a formula, or when it already starts with one (so ``unguard`` is exact)."""
    if text.startswith(FORMULA_STARTS) or text.startswith("'"):
        return "'" + text
    return text


def unguard(text: str) -> str:
    """What ``guard`` was given: one leading apostrophe removed, when there is one."""
    return text[1:] if text.startswith("'") else text


def guard_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell guarded; numbers, times and missing values
    (None, NaN, NA) untouched, and each column's dtype kept."""
    columns: list[pd.Series] = []
    for column in range(frame.shape[1]):
        values = frame.iloc[:, column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.cat.rename_categories(  # guard is one-to-one: no clash
                [_cell(c) for c in values.cat.categories])
        elif values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            values = _guard_texts(values)
        columns.append(values)
    if not columns:
        return frame.copy()
    out = pd.concat(columns, axis=1)
    out.columns = frame.columns
    return out


def _guard_texts(values: pd.Series) -> pd.Series:
    """A text (or mixed object) column guarded: only the cells that need it are touched."""
    try:
        mask = values.str.startswith((*FORMULA_STARTS, "'"), na=False).astype(bool)
    except (AttributeError, TypeError):  # no text in it at all, or bytes
        return pd.Series([_cell(v) for v in values], index=values.index,
                         dtype=values.dtype, name=values.name)
    if not mask.any():
        return values
    out = values.copy()
    out[mask] = "'" + values[mask].astype(str)
    return out


def _cell(value: object) -> object:
    """A text value guarded, any other value as it is."""
    return guard(value) if isinstance(value, str) else value
