"""History cells typed: exact ids, explicit times, labels, flags and names.

Every cell arrives as text (``simbatch.history.tables``), and each parser here reads one
column of one table, refusing the first bad cell with one message naming the file, row,
column and value (quoted as text, at most 80 characters). The rules:

- ids are whole numbers written as digits only (no sign, no decimals, no hex), read
  exactly as int64;
- times are ISO 8601 (``2026-01-05 22:00:00``, ``2026-01-05T22:00:00+01:00``), or the one
  ``date_format`` stated; nothing is read from the wall clock (``now``, ``07:00``) and no
  day/month order is guessed. An offset in the cell is honoured; a naive time is in
  ``times_in`` (default UTC). In that zone, a time that occurs twice (the hour clocks go
  back) is read as its first occurrence, and one that does not exist (the hour clocks go
  forward) is moved forward by that hour. ``NO_TIME_DATES`` mean "no time"; other dates
  outside the years 1678 to 2261 cannot be held and are refused;
- labels are read case-insensitively, or as their enum numbers;
- text has one leading apostrophe removed (``simbatch.results.cells.unguard``: what
  simbatch's own writers add before ``= + - @``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from simbatch.errors import HistoryError, UsageError, excerpt
from simbatch.history.columns import NO_TIME_DATES
from simbatch.results.cells import unguard

__all__ = ["Table", "TimeRule", "flags", "ids", "labels", "names", "shown", "times"]

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?"
                  r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?")
_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_NO_TIME = [f"{y:04d}-{m:02d}-{d:02d}" for y, m, d in NO_TIME_DATES]
_DIGITS = re.compile(r"\d{1,19}")
_INT64_MAX = 2 ** 63 - 1


def shown(value: object) -> str:
    """A cell as a message quotes it: its text as ``simbatch.errors.excerpt`` quotes any
    bad value (at most ``EXCERPT`` characters)."""
    return excerpt(str(value))


@dataclass
class Table:
    """One table (several files of one kind joined), every cell text, rows remembered."""

    kind: str
    source: str
    frame: pd.DataFrame
    rows: np.ndarray
    sources: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    names: tuple[str, ...] = ()

    def where(self, i: int) -> tuple[str, int]:
        """The file and row of row ``i``."""
        src = str(self.sources[i]) if len(self.sources) else self.source
        return src, int(self.rows[i])

    def error(self, i: int, column: str, problem: str) -> HistoryError:
        """The error for row ``i``'s cell in ``column``."""
        source, row = self.where(i)
        return HistoryError(source, problem, row=row, column=column)

    def has(self, column: str) -> bool:
        """Whether the table has the column."""
        return column in self.frame.columns

    def __len__(self) -> int:
        return len(self.frame)


def _cats(table: Table, column: str, distinct: bool = True) -> tuple[pd.Index, np.ndarray]:
    """A column's texts (stripped) and each row's code into them (-1: empty). The texts
    are the distinct ones, or with ``distinct=False`` (for columns of ids and times, whose
    values rarely repeat) every row's own, which saves encoding them."""
    values = table.frame[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        texts = pd.Index(values.cat.categories.astype("str").str.strip())
        codes = values.cat.codes.to_numpy()
    else:  # text straight from a CSV: encoded here, in C
        arrow = pa.array(values.astype("str").array)
        if distinct:
            unique = pc.unique(arrow.fill_null(""))
            codes = pc.index_in(arrow, value_set=unique).fill_null(-1).to_numpy()
            texts = pd.Index(pd.array(unique, dtype="str")).str.strip()
        else:
            texts = pd.Index(pd.array(arrow.fill_null(""), dtype="str")).str.strip()
            codes = np.arange(len(texts))
        codes = np.asarray(codes, dtype=np.int64)
    empty = np.append(np.asarray(texts == "", dtype=bool), True)
    codes = np.where(empty[codes], -1, codes)
    return texts, codes


def _first_bad(table: Table, column: str, codes: np.ndarray, bad: np.ndarray,
               texts: pd.Index, problem: str) -> HistoryError:
    """The error for the first row whose code is bad (``problem`` may use {value})."""
    rows = bad[codes] & (codes >= 0)
    i = int(np.argmax(rows))
    return table.error(i, column, problem.format(value=shown(texts[codes[i]])))


def ids(table: Table, column: str, required: bool = True, most: int = _INT64_MAX
        ) -> np.ndarray:
    """A column of whole-number ids as exact int64 (-1 where empty and allowed)."""
    texts, codes = _cats(table, column, distinct=False)
    digits = np.asarray(texts.str.fullmatch(r"\d{1,19}"), dtype=bool)
    digits &= ~(np.asarray(texts.str.len() == 19, dtype=bool)
                & np.asarray(texts > str(_INT64_MAX), dtype=bool))
    numbers = np.full(len(texts) + 1, -1, dtype=np.int64)
    if digits.any():
        found = pa.array(texts[digits].to_numpy(dtype=object), type=pa.string())
        numbers[:-1][digits] = pc.cast(found, pa.int64()).to_numpy()
    good = np.append(digits & (numbers[:-1] <= most), False)
    if not good[:-1].all() and (~good[codes[codes >= 0]]).any():
        bound = f" from 0 to {most:,}" if most < _INT64_MAX else ""
        raise _first_bad(table, column, codes, ~good, texts,
                         f"not a whole number{bound} (digits only): {{value}}")
    if required and (codes < 0).any():
        raise table.error(int(np.argmax(codes < 0)), column, "an empty cell; an id is required")
    return np.asarray(np.where(good, numbers, -1)[codes])


def labels(table: Table, column: str, words: Mapping[str, str], codes: Mapping[int, str],
           what: str, required: bool = True) -> pd.Series:
    """Labels read from labels or enum numbers; an unknown value is refused (NA where empty
    and not required)."""
    texts, at = _cats(table, column)
    found: list[str | None] = []
    for text in texts:
        key = " ".join(text.lower().replace("'", "").replace("\u2019", "").split())
        label = words.get(key) or words.get(key.replace(" ", ""))
        if label is None and _DIGITS.fullmatch(text):
            label = codes.get(int(text))
        found.append(label)
    known = np.array([f is not None for f in found] + [not required], dtype=bool)
    if not known[at].all():
        listed = ("labels or numbers: " + ", ".join(f"{k} {v}" for k, v in codes.items())
                  if codes else "labels: " + ", ".join(dict.fromkeys(words.values())))
        i = int(np.argmax(~known[at]))
        value = "an empty cell" if at[i] < 0 else shown(texts[at[i]])
        raise table.error(i, column, f"unknown {what} {value} ({listed})")
    lookup = np.array([*found, None], dtype=object)
    return pd.Series(pd.Categorical(lookup[at]), name=column)


def names(table: Table, column: str) -> pd.Series:
    """A text column (names, servers, companies) as a categorical; NA where missing or empty.
    One leading apostrophe is removed (what simbatch's writers add before = + - @)."""
    if not table.has(column):
        return pd.Series(pd.Categorical([None] * len(table)), name=column)
    texts, codes = _cats(table, column)
    lookup = np.array([*(unguard(t) or None for t in texts), None], dtype=object)
    return pd.Series(pd.Categorical(lookup[codes]), name=column)


_FLAGS = {"1": True, "0": False, "yes": True, "no": False, "true": True, "false": False,
          "1.0": True, "0.0": False}


def flags(table: Table, column: str) -> pd.Series:
    """A yes/no column as a nullable boolean (NA where empty)."""
    texts, codes = _cats(table, column)
    found = [_FLAGS.get(t.lower()) for t in texts]
    good = np.array([f is not None for f in found] + [True], dtype=bool)
    if not good[codes].all():
        raise _first_bad(table, column, codes, ~good, texts,
                         "expected Yes/No or 1/0, got {value}")
    lookup = np.array([*found, None], dtype=object)
    return pd.Series(pd.array(lookup[codes], dtype="boolean"), name=column)


@dataclass(frozen=True)
class TimeRule:
    """How naive times and dates are read: the zone they are in and the one date format."""

    times_in: str = "UTC"
    date_format: str | None = None

    @classmethod
    def of(cls, times_in: str | None, date_format: str | None) -> TimeRule:
        """A checked rule (a ``UsageError`` names a zone or a format that cannot be used)."""
        zone = "UTC" if times_in is None else str(times_in)
        try:
            pd.Timestamp("2026-01-01").tz_localize(zone)
        except Exception:
            raise UsageError(f"times_in: not an IANA time zone: {shown(zone)}") from None
        if date_format is not None and not (re.search(r"%[dj]", date_format)
                                            and re.search(r"%[Yy]", date_format)):
            raise UsageError(f"date_format: give a strptime format with a day and a year,"
                             f" such as %d/%m/%Y %H:%M, got {shown(date_format)}")
        return cls(zone, date_format)


def _moment(text: str, rule: TimeRule) -> datetime | None:
    if rule.date_format is not None:
        try:
            return datetime.strptime(text, rule.date_format)
        except ValueError:
            return None
    if not _ISO.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.replace(",", "."))
    except ValueError:
        return None


def _problems(rule: TimeRule, texts: pd.Index) -> tuple[np.ndarray, np.ndarray,
                                                        np.ndarray, np.ndarray]:
    """For each distinct text: its UTC-or-naive moment (ns since 1970) and whether it is
    naive, not a date, or out of range. Sentinels and empty texts are NaT."""
    n = len(texts)
    nat = np.iinfo(np.int64).min
    moments = np.full(n, nat, dtype=np.int64)
    naive = np.zeros(n, dtype=bool)
    if rule.date_format is not None:
        form = np.zeros(n, dtype=bool)
        far = np.zeros(n, dtype=bool)
        for k, text in enumerate(texts):
            if not text:
                continue
            moment = _moment(text, rule)
            if moment is None:
                form[k] = True
            elif (moment.year, moment.month, moment.day) in NO_TIME_DATES:
                continue
            elif not 1678 <= moment.year <= 2261:
                far[k] = True
            else:
                stamp = pd.Timestamp(moment)
                naive[k] = stamp.tzinfo is None
                moments[k] = (stamp if naive[k] else stamp.tz_convert(None)).as_unit("ns").value
        return moments, naive, form, far
    empty = np.asarray(texts == "", dtype=bool)
    iso = np.asarray(texts.str.fullmatch(_ISO.pattern), dtype=bool)
    sentinel = np.asarray(texts.str.slice(0, 10).isin(_NO_TIME), dtype=bool)
    year = pd.Series(texts.str.slice(0, 4)).where(iso, "0").astype("int64").to_numpy()
    far = iso & ~sentinel & ((year < 1678) | (year > 2261))
    usable = iso & ~sentinel & ~far
    offset = usable & np.asarray(texts.str.contains(_OFFSET), dtype=bool) & np.asarray(
        texts.str.len() > 10, dtype=bool)
    plain = usable & ~offset
    form = ~empty & ~iso
    for mask, utc in ((plain, False), (offset, True)):
        if mask.any():
            parsed = pd.DatetimeIndex(pd.to_datetime(texts[mask].str.replace(",", ".", n=1),
                                                     format="ISO8601", errors="coerce", utc=utc))
            if utc:
                parsed = parsed.tz_convert(None)
            values = parsed.as_unit("ns").asi8
            moments[mask] = values
            form[np.flatnonzero(mask)[values == nat]] = True
    naive[:] = plain
    return moments, naive, form, far


def times(table: Table, column: str, rule: TimeRule, counts: dict[str, int]) -> pd.Series:
    """A time column as tz-aware UTC (NaT where empty or "no time"). ``counts`` adds the
    naive times read and those that are repeated or skipped in ``times_in``."""
    texts, codes = _cats(table, column, distinct=False)
    moments, naive, form, far = _problems(rule, texts)
    bad = np.append(form | far, False)
    if bad[codes].any():
        i = int(np.argmax(bad[codes]))
        k = int(codes[i])
        if form[k]:
            how = (f"the date format {rule.date_format}" if rule.date_format else
                   "ISO form such as 2026-01-05 22:00:00 (or give --date-format)")
            problem = f"not a date and time in {how}"
        else:
            problem = ("a date outside the years 1678 to 2261, which cannot be held (of such"
                       " dates only 0001-01-01, 1753-01-01 and 9999-12-31 are read, as no"
                       " time)")
        raise table.error(i, column, f"{problem}: {shown(texts[k])}")
    rows = np.bincount(codes[codes >= 0], minlength=len(texts))  # cells per distinct text
    naive &= rows > 0
    if naive.any():
        local = pd.DatetimeIndex(moments[naive].astype("datetime64[ns]"))
        if rule.times_in != "UTC":
            odd = local.tz_localize(rule.times_in, ambiguous="NaT", nonexistent="NaT").isna()
            local = local.tz_localize(rule.times_in, ambiguous=np.ones(len(local), dtype=bool),
                                      nonexistent=pd.Timedelta(hours=1)).tz_convert(None)
            counts["odd"] = counts.get("odd", 0) + int(rows[naive][np.asarray(odd)].sum())
            moments[naive] = local.as_unit("ns").asi8
        counts["naive"] = counts.get("naive", 0) + int(rows[naive].sum())
    lookup = np.append(moments, np.iinfo(np.int64).min).view("datetime64[ns]")
    return pd.Series(pd.DatetimeIndex(lookup[codes]).tz_localize("UTC"), name=column)
