"""``jobs.parquet``: the per-job records of the first replications (``--keep-jobs N``).

The replications asked for return their jobs' records with their chunk (``ChunkResult.
job_records``): a table, or, for a streamed replication, the path of the part it wrote
block by block (``sim.forecast.job_parts``, in ``JobsWriter.parts``). They are written as
they arrive, in replication order (a table as one row group, a part's row groups one by
one, the part then deleted), and released: the run holds at most the records of chunks
that arrived before an earlier one, and of a part, a row group at a time.
"""

from __future__ import annotations

from pathlib import Path

from sim.forecast.tables import Table


class JobsWriter:
    """Appends the records of replications 0, 1, ... ``keep - 1`` to a Parquet file, in order."""

    def __init__(self, path: Path, keep: int):
        self.path, self.keep = Path(path), keep
        self.parts = self.path.parent / ".jobs-parts"  # where streamed replications write theirs
        self._next = 0
        self._waiting: dict[int, Table | Path] = {}
        self._writer = None

    def add(self, records: dict[int, Table | Path]) -> None:
        """Take a chunk's records (replication -> table); write those whose turn has come."""
        self._waiting.update(records)
        while self._next in self._waiting:
            self._write(self._waiting.pop(self._next))
            self._next += 1

    def _write(self, records: Table | Path) -> None:
        import pyarrow.parquet as pq

        if isinstance(records, Path):
            part = pq.ParquetFile(records)
            for g in range(part.num_row_groups):
                self._arrow(part.read_row_group(g))
            part.close()
            records.unlink()
        else:
            self._arrow(records.arrow())

    def _arrow(self, arrow) -> None:
        import pyarrow.parquet as pq

        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, arrow.schema)
        elif arrow.schema != self._writer.schema:  # a part read back names its labels' type otherwise (string)
            arrow = arrow.cast(self._writer.schema)
        self._writer.write_table(arrow)

    def close(self) -> int:
        """Finish the file; return how many replications it holds."""
        if self._waiting:
            raise ValueError(f"job records from replication {min(self._waiting)} on wait for replication {self._next}")
        if self._writer is not None:
            self._writer.close()
        if self.parts.exists():
            for left in self.parts.iterdir():  # (a replication that fell back to running whole)
                left.unlink()
            self.parts.rmdir()
        return self._next
