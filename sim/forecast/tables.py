"""Tables as NumPy columns: what a replication returns and a chunk of replications sends back.

A replication's tables are small (a few thousand rows) and a run has thousands of them:
building a pandas DataFrame for each, then concatenating and pickling the frames, cost
more than a millisecond per replication. A ``Table`` is plain arrays with label columns
held as integer codes: concatenated and pickled at memory speed, and made into a
DataFrame once, when the run collects them.

The replications never need pandas: it is imported where a DataFrame is made, so that
a run's worker processes can start before the parent has imported it (``sim.montecarlo.run``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Table:
    """Columns of equal length; a column named in ``labels`` holds codes into its names."""

    columns: dict[str, np.ndarray]
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def arrow(self):
        """The table as a ``pyarrow.Table`` (label columns dictionary-encoded), as Parquet files take it."""
        import pyarrow as pa

        return pa.Table.from_pandas(self.frame(categorical=True), preserve_index=False)

    def frame(self, categorical: bool = False) -> pd.DataFrame:
        """The DataFrame: label columns as ``pandas.Categorical`` over all their names (the
        same categories in every table, so frames concatenate without widening), or as strings."""
        import pandas as pd

        out: dict[str, object] = {}
        for name, column in self.columns.items():
            names = self.labels.get(name)
            if names is None:
                out[name] = column
            elif categorical:
                out[name] = pd.Categorical.from_codes(column, dtype=categories(names), validate=False)
            else:
                out[name] = pd.array(np.asarray(names, dtype=object)[column], dtype=str)
        # copy=False keeps the columns as they are: the default would stack the numeric ones
        # into one 2-D block, a copy of the whole table
        return pd.DataFrame(out, copy=False)

    @staticmethod
    def concat(tables: Sequence["Table"]) -> "Table":
        """The tables one after the other (they share their columns and label names)."""
        first = Table.alike(tables)
        return Table({name: np.concatenate([t.columns[name] for t in tables]) for name in first.columns}, dict(first.labels))

    @staticmethod
    def alike(tables: Sequence["Table"]) -> "Table":
        """The first of ``tables``, once checked that all have its columns and label names."""
        first = tables[0]
        for t in tables[1:]:
            if list(t.columns) != list(first.columns) or t.labels != first.labels:
                raise ValueError("tables with different columns or labels cannot be concatenated")
        return first


@functools.lru_cache(maxsize=64)
def categories(names: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical dtype over ``names``, built once: pandas validates categories at
    every construction, which costs more than the rest of a small table."""
    import pandas as pd

    return pd.CategoricalDtype(list(names))
