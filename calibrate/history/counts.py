"""Monthly file counts per language: the table every history reader returns."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class HistoryError(ValueError):
    """A history cannot be read or fitted; the message names the file, the field and the fix."""


def month_index(month: str) -> int:
    """Months since year 0 of a ``YYYY-MM`` string (consecutive months differ by 1)."""
    year, mon = map(int, month.split("-"))
    return 12 * year + mon - 1


def month_name(index: int) -> str:
    """The ``YYYY-MM`` of a ``month_index``."""
    year, mon = divmod(index, 12)
    return f"{year:04d}-{mon + 1:02d}"


@dataclass(frozen=True)
class CountTable:
    """Files per language and month, over consecutive months.

    ``files[l, m]`` counts language ``languages[l]`` in ``months[m]``; ``content``, when the
    source gives content types, holds files per language and content type over the whole
    table (``None`` otherwise); ``source`` names where the counts came from.
    """

    months: tuple[str, ...]
    languages: tuple[str, ...]
    files: np.ndarray
    source: str
    content: dict[str, dict[str, np.ndarray]] | None = None  # language -> type -> files per month
    notes: tuple[str, ...] = ()  # what the reader left out, and why

    def __post_init__(self) -> None:
        if self.files.shape != (len(self.languages), len(self.months)):
            raise HistoryError(f"{self.source}: counts shape {self.files.shape} does not match "
                               f"{len(self.languages)} languages x {len(self.months)} months")

    @property
    def first_month(self) -> int:
        return month_index(self.months[0])

    def starts(self) -> dict[str, int]:
        """Each language's first month with files, as an index into ``months``."""
        out = {}
        for li, code in enumerate(self.languages):
            nonzero = np.flatnonzero(self.files[li] > 0)
            if nonzero.size:
                out[code] = int(nonzero[0])
        return out


def table_from_rows(rows: list[tuple[str, str, str | None, int]], source: str, notes: tuple[str, ...] = ()) -> CountTable:
    """A ``CountTable`` from ``(month, language, content or None, files)`` rows.

    Rows of the same (month, language, content) must not repeat; a (month, language) with no
    row counts 0 files, but a month with no row at all is refused (a gap in the record, not
    a month without demand: say so with explicit rows of 0 files).
    """
    if not rows:
        raise HistoryError(f"{source}: no rows; the history needs at least 3 months of counts")
    seen: set[tuple[str, str, str | None]] = set()
    for month, lang, content, _ in rows:
        key = (month, lang, content)
        if key in seen:
            raise HistoryError(f"{source}: month {month}, language {lang!r}"
                               f"{'' if content is None else f', content {content!r}'} appears twice; "
                               "give each once (sum the duplicates)")
        seen.add(key)
    with_content = {r[2] is not None for r in rows}
    if len(with_content) > 1:
        raise HistoryError(f"{source}: some rows give a content type and others do not; give it on every row or none")
    first = min(month_index(r[0]) for r in rows)
    last = max(month_index(r[0]) for r in rows)
    months = tuple(month_name(i) for i in range(first, last + 1))
    missing = sorted(set(months) - {r[0] for r in rows})
    if missing:
        raise HistoryError(f"{source}: no row for month(s) {missing}; add their rows (files 0 if there were none) "
                           "or cut the history before the gap")
    languages = tuple(sorted({r[1] for r in rows}))
    files = np.zeros((len(languages), len(months)), dtype=np.int64)
    content: dict[str, dict[str, np.ndarray]] | None = {} if True in with_content else None
    for month, lang, ctype, n in rows:
        li, mi = languages.index(lang), month_index(month) - first
        files[li, mi] += n
        if content is not None:
            per = content.setdefault(lang, {}).setdefault(ctype, np.zeros(len(months), dtype=np.int64))
            per[mi] += n
    return CountTable(months, languages, files, source, content, notes)
