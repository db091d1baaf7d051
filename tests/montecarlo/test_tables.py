"""Tables as NumPy columns (``sim.forecast.tables``), the collecting they feed, and the band sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config.resolve import load_and_check
from sim.forecast.replication import run_replication
from sim.forecast.tables import Table
from sim.montecarlo import bands
from sim.montecarlo.run import ChunkResult, MonthlyCollector
from tests.helpers import scenario_dict


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


def _chunks_of_replications(tmp_path, n):
    path = tmp_path / "s.yaml"
    data = scenario_dict("default")
    data["horizon_months"] = 4
    data["workload"]["base_files_per_month"] = 50
    path.write_text(yaml.safe_dump(data))
    res = load_and_check(path)
    results = [run_replication(res, r, "fast", categorical=True) for r in range(n)]
    chunks = [ChunkResult(r, results[r].monthly_table, results[r].stats_table, results[r].files_table,
                          [results[r].summary], results[r].jobs, results[r].events) for r in range(n)]
    return results, chunks


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 1, 0]])
def test_collected_monthly_equals_the_replications_frames_whatever_order_chunks_arrive(tmp_path, order):
    """Chunks' monthly tables, collected as they arrive in any order, give what
    concatenating each replication's own DataFrame in replication order gives; each
    chunk's table is released once copied."""
    results, chunks = _chunks_of_replications(tmp_path, 4)
    want = pd.concat([r.monthly for r in results], ignore_index=True)
    collector = MonthlyCollector(4)
    collector._MARGIN = 0.5  # foresee too few rows: the columns must grow
    for k, i in enumerate(order):
        collector.add(chunks[i])
        arrived = set(order[: k + 1])
        prefix = next(j for j in range(5) if j not in arrived)  # the replications 0..prefix-1 have all come
        assert [c.monthly is None for c in chunks] == [j < prefix for j in range(4)]  # copied once in order
    assert all(c.monthly is None for c in chunks)
    pd.testing.assert_frame_equal(collector.frame(), want, check_exact=True)


def test_collecting_before_every_chunk_came_is_refused(tmp_path):
    _, chunks = _chunks_of_replications(tmp_path, 3)
    collector = MonthlyCollector(3)
    collector.add(chunks[0])
    collector.add(chunks[2])
    with pytest.raises(ValueError, match="from replication 2 on wait for replication 1"):
        collector.frame()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.integers(1, 5), st.integers(1, 6), st.lists(st.integers(1, 4), min_size=1, max_size=4),
       st.integers(0, 2**32 - 1))
def test_band_sums_are_bincounts_bit_for_bit(rows, replications, horizon, widths, seed):
    """The one-pass kernels add rows in table order, as ``np.bincount`` does, for every
    grouping at once, and leave out rows outside the replications or the horizon and rows
    without a label (code -1); they count each grouping's rows per code."""
    rng = np.random.default_rng(seed)
    rep = rng.integers(-1, replications + 1, rows).astype(np.int32)
    month = rng.integers(-1, horizon + 1, rows).astype(np.int16)
    codes = tuple(rng.integers(-1, w, rows).astype(np.int8) for w in widths)
    values = [rng.lognormal(size=rows) for _ in range(3)]
    keep = (rep >= 0) & (rep < replications) & (month >= 0) & (month < horizon)
    sums, counts, first = bands._grouped_sums(rep, month, codes, np.array(widths), tuple(values), replications, horizon)
    cells = replications * horizon
    for g, (code, w) in enumerate(zip(codes, widths)):
        kept = keep & (code >= 0)
        cell = ((rep.astype(np.int64) * horizon + month) * w + code)[kept]
        for k, v in enumerate(values):
            got = sums[k, cells * first[g] : cells * first[g + 1]]
            assert np.array_equal(got, np.bincount(cell, weights=v[kept], minlength=cells * w))
        assert np.array_equal(counts[first[g] : first[g + 1]], np.bincount(code[kept], minlength=w))
    in_reps = (rep >= 0) & (rep < replications)
    total, year, last, energy, facility = bands._replication_totals(rep, month, *values, replications, horizon)

    def by_rep(mask, v):
        return np.bincount(rep[mask], weights=v[mask], minlength=replications)

    assert np.array_equal(total, by_rep(in_reps, values[0]))
    assert np.array_equal(year, by_rep(in_reps & (month >= max(0, horizon - 12)), values[0]))
    assert np.array_equal(last, by_rep(in_reps & (month == horizon - 1), values[0]))
    assert np.array_equal(energy, by_rep(in_reps, values[1])) and np.array_equal(facility, by_rep(in_reps, values[2]))


def test_bands_group_the_labels_present_sorted_and_leave_out_rows_without_one():
    """A grouping's bands cover the labels that have rows, sorted by name, whatever the
    categories' order; a category without rows gives no band and a row without a label
    counts in the total only. Each band is the quantile, over replications, of the
    group's monthly sum, as pandas computes it."""
    rng = np.random.default_rng(7)
    rows, replications, horizon = 600, 20, 3
    service = pd.Categorical.from_codes(rng.integers(-1, 2, rows), categories=["zeta", "alpha", "unused"])
    monthly = pd.DataFrame({
        "replication": rng.integers(0, replications, rows).astype(np.int32),
        "month": rng.integers(0, horizon, rows).astype(np.int16),
        "pool": pd.Categorical(["gpu"] * rows), "service": service,
        "language": pd.Categorical(rng.choice(["fr", "en"], rows)), "content_type": pd.Categorical(["text"] * rows),
        "component": pd.Categorical(rng.choice(["idle", "active"], rows)),
        "co2e_kg": rng.lognormal(size=rows), "energy_kwh": rng.lognormal(size=rows), "facility_kwh": rng.lognormal(size=rows),
    })
    files = pd.DataFrame({"replication": np.repeat(np.arange(replications), horizon), "month": np.tile(np.arange(horizon), replications),
                          "language": "fr", "content_type": "text", "requested": 2.0, "served": 1.0})
    got = bands.compute_bands(monthly, files, replications, horizon, "2027-01")
    by_service = got[(got.metric == "co2e_kg") & (got.group_by == "service")]
    assert list(dict.fromkeys(by_service.group)) == ["alpha", "zeta"]
    labelled = monthly[monthly.service.notna()]
    grid = labelled.groupby(["replication", "month", "service"], observed=False).co2e_kg.sum().unstack(["month", "service"])
    grid = grid.reindex(range(replications)).fillna(0.0)
    for (month, name), column in grid.items():
        if name == "unused":
            continue
        row = by_service[(by_service.month == month) & (by_service.group == name)].iloc[0]
        assert row.p50 == pytest.approx(np.percentile(column, 50)) and row["mean"] == pytest.approx(column.mean())
    total = got[(got.metric == "co2e_kg") & (got.group_by == "total")]
    sums = monthly.groupby(["replication", "month"]).co2e_kg.sum().unstack().reindex(range(replications)).fillna(0.0)
    assert total.sort_values("month")["mean"].to_numpy() == pytest.approx(sums.mean().to_numpy())
    served = got[(got.metric == "files_served") & (got.group_by == "language")]
    assert set(served.group) == {"fr"} and (served.p50 == 1.0).all()


def test_file_counts_are_the_files_requested_and_served_per_cell(tmp_path):
    """Per month, language and content type: every file counted once as requested, and as
    served when the volume limits keep it (here: half the Spanish audio thinned away)."""
    from sim.forecast.replication import file_counts, sample_inputs

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
