"""A streamed replication's job records (``--keep-jobs``), written block by block.

Each completed block's rows are appended to the replication's part (a Parquet file, one
row group a block) under a temporary name, renamed once the replication is complete: a
part that is there is whole. The Monte Carlo then copies the parts into ``jobs.parquet``
in replication order (``sim.montecarlo.job_records``).
"""

from __future__ import annotations

import os
from pathlib import Path

from .tables import Table


class JobsPart:
    """The job records of one streamed replication, appended as its blocks complete."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".partial")
        self._writer = None

    def add(self, table: Table) -> None:
        """Append a block's rows (in job order)."""
        import pyarrow.parquet as pq

        arrow = table.arrow()
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.tmp, arrow.schema)
        self._writer.write_table(arrow)

    def close(self) -> Path:
        """Finish the part and publish it under its name; returns its path."""
        if self._writer is None:
            raise ValueError(f"{self.path.name}: no job was written")
        self._writer.close()
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Drop what was written (the replication runs whole instead)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.tmp.unlink(missing_ok=True)
