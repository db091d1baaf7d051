"""Tables as NumPy columns (``sim.tables``), the collecting they feed, and the band sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import bands
from sim.montecarlo import ChunkResult, concat_releasing, huge_pages
from sim.replication import run_replication
from sim.resolve import load_and_check
from sim.tables import Table

from .conftest import scenario_dict


def _table(first_rep: int) -> Table:
    return Table(
        {"replication": np.array([first_rep, first_rep], dtype=np.int32), "service": np.array([1, 0], dtype=np.int16),
         "kwh": np.array([0.5, 1.5])},
        {"service": ("whisper", "nllb")},
    )


def test_frame_gives_labels_as_categories_or_strings():
    t = _table(3)
    cat = t.frame(categorical=True)
    assert list(cat.service.cat.categories) == ["whisper", "nllb"] and list(cat.service) == ["nllb", "whisper"]
    plain = t.frame()
    assert list(plain.service) == ["nllb", "whisper"] and pd.api.types.is_string_dtype(plain.service)
    assert plain.kwh.tolist() == [0.5, 1.5] and plain.replication.dtype == np.int32


def test_concat_keeps_order_and_refuses_other_labels():
    both = Table.concat([_table(0), _table(1)])
    assert both.columns["replication"].tolist() == [0, 0, 1, 1] and len(both) == 4
    other = _table(2)
    other.labels = {"service": ("nllb", "whisper")}  # same codes, other names: not concatenable
    with pytest.raises(ValueError, match="labels"):
        Table.concat([_table(0), other])


def test_collected_monthly_equals_the_replications_frames(tmp_path):
    """Chunks' tables, concatenated column by column, give what concatenating each
    replication's own DataFrame gives."""
    path = tmp_path / "s.yaml"
    data = scenario_dict("default")
    data["horizon_months"] = 4
    data["workload"]["base_files_per_month"] = 50
    path.write_text(yaml.safe_dump(data))
    res = load_and_check(path)
    results = [run_replication(res, r, "fast", categorical=True) for r in range(3)]
    chunks = [ChunkResult(r, results[r].monthly_table, results[r].stats_table, results[r].files_table,
                          [results[r].summary], results[r].jobs, results[r].events) for r in range(3)]
    want = pd.concat([r.monthly for r in results], ignore_index=True)
    got = concat_releasing(chunks)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert all(c.monthly is None for c in chunks)  # each input released as it was taken


def test_huge_pages_switch_is_numpys():
    from numpy._core.multiarray import _set_madvise_hugepage

    before = _set_madvise_hugepage(True)
    try:
        huge_pages(False)
        assert _set_madvise_hugepage(True) is False
        huge_pages(True)
        assert _set_madvise_hugepage(True) is True
    finally:
        _set_madvise_hugepage(before)


_HEAP_PROBE = """
import ctypes, json, re
from sim.montecarlo import _HEAP_BYTES, huge_pages, reserve_heap, tune_allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")  # glibc 2.33 or later
libc.mallinfo2.restype = MallInfo2
tune_allocator()
huge_pages(True)
reserve_heap()
reserve_heap()  # once per process
info = libc.mallinfo2()
rollup = open("/proc/self/smaps_rollup").read()
huge_kb = int(re.search(r"AnonHugePages:\\s+(\\d+) kB", rollup).group(1))
print(json.dumps({"arena": info.arena, "free": info.fordblks, "huge_kb": huge_kb, "bytes": _HEAP_BYTES}))
"""


def test_the_reserved_heap_stays_in_the_process_on_huge_pages():
    """The block ``reserve_heap`` frees stays in the heap, free for the replications, and,
    where the kernel gives huge pages on request, is backed by them."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    thp = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    if not sys.platform.startswith("linux") or not Path("/proc/self/smaps_rollup").exists():
        pytest.skip("needs Linux (glibc's heap, /proc)")
    out = subprocess.run([sys.executable, "-c", _HEAP_PROBE], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["arena"] >= got["bytes"] and got["free"] >= 0.9 * got["bytes"]
    if thp.exists() and "[never]" not in thp.read_text():
        assert got["huge_kb"] * 1024 >= got["bytes"] // 4  # a quarter at least: the kernel may lack free huge pages


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.integers(1, 5), st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_band_sums_are_bincounts_bit_for_bit(rows, replications, horizon, groups, seed):
    """The one-pass kernels add rows in table order, as ``np.bincount`` does, and leave out
    rows outside the replications or the horizon."""
    rng = np.random.default_rng(seed)
    rep = rng.integers(-1, replications + 1, rows).astype(np.int32)
    month = rng.integers(-1, horizon + 1, rows).astype(np.int16)
    code = rng.integers(0, groups, rows)
    values = [rng.lognormal(size=rows) for _ in range(3)]
    keep = (rep >= 0) & (rep < replications) & (month >= 0) & (month < horizon)
    cells = ((rep.astype(np.int64) * horizon + month) * groups + code)[keep]
    got = bands._cell_sums(rep, month, code, tuple(values), replications, horizon, groups)
    for g, v in zip(got, values):
        assert np.array_equal(g, np.bincount(cells, weights=v[keep], minlength=replications * horizon * groups))
    in_reps = (rep >= 0) & (rep < replications)
    total, year, last, energy, facility = bands._replication_totals(rep, month, *values, replications, horizon)

    def by_rep(mask, v):
        return np.bincount(rep[mask], weights=v[mask], minlength=replications)

    assert np.array_equal(total, by_rep(in_reps, values[0]))
    assert np.array_equal(year, by_rep(in_reps & (month >= max(0, horizon - 12)), values[0]))
    assert np.array_equal(last, by_rep(in_reps & (month == horizon - 1), values[0]))
    assert np.array_equal(energy, by_rep(in_reps, values[1])) and np.array_equal(facility, by_rep(in_reps, values[2]))


def test_file_counts_are_the_files_requested_and_served_per_cell(tmp_path):
    """Per month, language and content type: every file counted once as requested, and as
    served when the volume limits keep it (here: half the Spanish audio thinned away)."""
    from sim.replication import file_counts, sample_inputs

    data = scenario_dict("default")
    data["horizon_months"] = 6
    data["workload"]["limits"] = [{"languages": ["es"], "content_types": ["audio"], "reduce_share": 0.5}]
    path = tmp_path / "limited.yaml"
    path.write_text(yaml.safe_dump(data))
    res = load_and_check(path)
    inp = sample_inputs(res, 2)
    got = file_counts(res, inp, 2)
    f = inp.files
    files = pd.DataFrame({"month": f.month, "language": np.asarray(f.languages)[f.language],
                          "content_type": np.asarray(["audio", "video", "text"])[f.content], "served": inp.served})
    want = files.groupby(["month", "language", "content_type"]).agg(requested=("served", "size"), served=("served", "sum"))
    cells = got.set_index(["month", "language", "content_type"])
    assert len(got) == 6 * len(f.languages) * 3 and (got["replication"] == 2).all()
    assert cells["requested"].sum() == len(f) and cells.loc[cells.index.difference(want.index), "requested"].eq(0).all()
    for key, row in want.iterrows():
        assert cells.loc[key, "requested"] == row["requested"] and cells.loc[key, "served"] == row["served"]
    es_audio = cells.xs(("es", "audio"), level=("language", "content_type"))
    assert 0 < es_audio["served"].sum() < es_audio["requested"].sum()  # the limit thinned them
    others = cells.drop(index="es", level="language")
    assert (others["served"] == others["requested"]).all()
