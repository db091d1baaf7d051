"""Language labels of monitored requests: BCP 47 primary subtags, bounded, never displacing.

A request's language comes from a query or path parameter, i.e. from the client. It is
reduced to its BCP 47 primary language subtag in lower case (``ar-SA``, ``AR``, ``ar_``
all give ``ar``); only two- or three-letter ISO 639 codes count as subtags, so ``arabic``
does not. The label is then:

- the code, when it is configured (``languages``, or named by a budget);
- else, when ``languages`` is unset, the code if fewer than ``max_languages`` other codes
  have been seen (first come, first kept);
- else ``other``, a label of its own that may carry its own budget.

Configured languages are kept apart from the learned ones, so unknown labels can fill the
learned slots but never push a configured language (and its budget) out.
"""

from __future__ import annotations

import re
import threading

UNKNOWN_LANGUAGE = "unknown"  # the request did not say
OTHER_LANGUAGE = "other"  # it said something outside the configured (or learned) codes

# Two or three ASCII letters (ISO 639-1/2/3), then nothing or a '-'/'_' and anything.
_PRIMARY = re.compile(r"([A-Za-z]{2,3})(?:[-_].*)?", re.S)


def primary_subtag(label: str) -> str | None:
    """The lower-case BCP 47 primary language subtag of ``label``, or None when it has none."""
    found = _PRIMARY.fullmatch(label.strip())
    return found.group(1).lower() if found else None


class LanguageLabels:
    """Maps what requests say to a bounded set of labels (see the module's docstring)."""

    def __init__(self, configured: set[str], learn: bool, max_learned: int):
        self.configured = frozenset(configured)
        self.learn = learn
        self.max_learned = max_learned
        self._learned: set[str] = set()
        self._lock = threading.Lock()

    def label(self, language: str | None) -> str:
        if language is None or not language.strip():
            return UNKNOWN_LANGUAGE
        code = primary_subtag(language)
        if code is None:
            return OTHER_LANGUAGE
        if code in self.configured or code in self._learned:
            return code
        if self.learn:
            with self._lock:
                if len(self._learned) < self.max_learned:
                    self._learned.add(code)
                    return code
        return OTHER_LANGUAGE

    @property
    def learned(self) -> frozenset[str]:
        return frozenset(self._learned)
