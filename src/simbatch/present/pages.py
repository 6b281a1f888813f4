"""HTML pages from Jinja2 templates: one base layout, one template per page.

Every page (the what-if report, the back-test report, the plan) extends
``templates/base.html``, which holds the page shell, the shared style, the title and the
header. Templates are rendered with autoescape on and ``StrictUndefined``: every value a
page shows (a scenario's, a job's or a group's name included) is escaped by the template,
and a name the page forgot to pass is an error, not an empty string. Tables are passed as
rows of cell texts (``table``), figures as PNG data (``image``); no markup is built here.
Pages are written atomically (``write_page``).
"""

from __future__ import annotations

import base64
import io
import math
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simbatch.files import write_bytes, write_text
from simbatch.version import __version__

__all__ = ["TEMPLATES", "Image", "Table", "generated", "image", "png", "render",
           "table", "write_figure", "write_page"]

TEMPLATES = Path(__file__).with_name("templates")
"""The folder of the page templates (package data)."""

DIGITS = 6
"""Digits after the point of a float cell, before trailing zeros are trimmed (as pandas)."""


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True)


def render(template_name: str, **context: Any) -> str:
    """The page ``template_name`` (a file in ``templates/``) rendered with ``context``.

    Every page gets ``version`` (simbatch's) unless the context sets it.
    """
    context.setdefault("version", __version__)
    return _environment().get_template(template_name).render(**context)


def write_page(out: str | Path, page: str) -> Path:
    """Write ``page`` (an HTML text) to ``out`` atomically, creating its folder."""
    return write_text(out, page)


def generated() -> str:
    """When a page is generated, in local time to the minute."""
    return f"{datetime.now():%Y-%m-%d %H:%M}"


# ---- figures --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Image:
    """A figure as a page shows it: PNG data and its alternative text."""

    alt: str
    data: bytes
    """The PNG file's bytes."""

    @property
    def uri(self) -> str:
        """The PNG as a ``data:`` URI, so that the page makes no external request."""
        return "data:image/png;base64," + base64.b64encode(self.data).decode()


def png(fig: Figure, dpi: int = 80) -> bytes:
    """``fig`` as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def image(fig: Figure, dpi: int = 80) -> Image:
    """``fig`` as an ``Image`` whose alternative text is its first axes' title."""
    return Image(fig.axes[0].get_title() if fig.axes else "", png(fig, dpi))


def write_figure(out: str | Path, fig: Figure, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG file to ``out`` atomically."""
    return write_bytes(out, png(fig, dpi))


# ---- tables ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    """A table as a page shows it: column headers and rows of cell texts."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def table(frame: pd.DataFrame, na_rep: str = "-") -> Table:
    """``frame``'s columns and rows (not its index) as texts, formatted as pandas shows them.

    Missing values read ``na_rep``; a float column has six digits after the point with the
    trailing zeros its values share trimmed (scientific when tiny or huge), as in
    ``DataFrame.to_html``.
    """
    columns = [_column(frame.iloc[:, i], na_rep) for i in range(frame.shape[1])]
    rows = tuple(zip(*columns, strict=True)) if columns else ((),) * len(frame)
    return Table(tuple(str(c) for c in frame.columns), tuple(tuple(r) for r in rows))


_DECIMAL = re.compile(r"^\s*[+-]?[0-9]+\.[0-9]*$")


def _text(value: Any, na_rep: str) -> str:
    """One cell's text; pandas writes a nullable column's missing value ``<NA>``."""
    if value is pd.NA:
        return "<NA>"
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return na_rep
    return str(value)


def _column(values: pd.Series, na_rep: str) -> list[str]:
    """One column's cell texts (pandas writes a nullable Float64 column value by value)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind == "f":
        return _floats(values.to_numpy(dtype=float), na_rep)
    return [_text(v, na_rep) for v in values.tolist()]


def _floats(values: np.ndarray, na_rep: str) -> list[str]:
    """Floats as pandas' fixed-width formatter writes them without an index (no leading space)."""
    def written(spec: str) -> list[str]:
        return [na_rep if math.isnan(v) else format(v, spec) for v in values]

    texts = written(f".{DIGITS}f")
    numbers = [_DECIMAL.match(t) is not None for t in texts]
    while any(numbers) and all(t.endswith("0") for t, n in zip(texts, numbers, strict=True)
                               if n):
        texts = [t[:-1] if n else t for t, n in zip(texts, numbers, strict=True)]
    texts = [t + "0" if n and t.endswith(".") else t for t, n in zip(texts, numbers,
                                                                       strict=True)]
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
        large = bool((size > 1e6).any())
        small = bool(((size < 10.0 ** -DIGITS) & (size > 0)).any())
    too_long = bool(texts) and max(len(t) for t in texts) > DIGITS + 6
    if small or (too_long and large):
        texts = written(f".{DIGITS}e")
    return [t.strip() for t in texts]

