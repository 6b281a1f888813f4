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
    """A copy of ``frame`` with every text cell guarded; numbers, times and NA untouched."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object or isinstance(values.dtype, (pd.CategoricalDtype,
                                                                pd.StringDtype)):
            out[column] = values.astype(object).map(
                lambda v: guard(v) if isinstance(v, str) else v)
    return out
