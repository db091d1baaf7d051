"""``jobs.parquet``: the per-job records of the first replications (``--keep-jobs N``).

The replications asked for return their jobs' records with their chunk (``ChunkResult.
job_records``); they are written as they arrive, in replication order, one row group per
replication, and released: the run holds at most the records of chunks that arrived
before an earlier one.
"""

from __future__ import annotations

from pathlib import Path

from sim.forecast.tables import Table


class JobsWriter:
    """Appends the records of replications 0, 1, ... ``keep - 1`` to a Parquet file, in order."""

    def __init__(self, path: Path, keep: int):
        self.path, self.keep = Path(path), keep
        self._next = 0
        self._waiting: dict[int, Table] = {}
        self._writer = None

    def add(self, records: dict[int, Table]) -> None:
        """Take a chunk's records (replication -> table); write those whose turn has come."""
        self._waiting.update(records)
        while self._next in self._waiting:
            self._write(self._waiting.pop(self._next))
            self._next += 1

    def _write(self, table: Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = pa.Table.from_pandas(table.frame(categorical=True), preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, arrow.schema)
        self._writer.write_table(arrow)

    def close(self) -> int:
        """Finish the file; return how many replications it holds."""
        if self._waiting:
            raise ValueError(f"job records from replication {min(self._waiting)} on wait for replication {self._next}")
        if self._writer is not None:
            self._writer.close()
        return self._next
