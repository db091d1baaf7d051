"""Fuzz: mutations of the shipped configs through `validate` and a 1-replication `simulate`.

Each mutant is refused with its file and field named, or runs with finite, non-negative
outputs; never a traceback, never a hang (``tests/fuzzing.py``). The default run draws a
seeded sample of 600 mutants (about 30 s here); ``-m fuzz`` runs the longer profile and prints the
counts of each outcome.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import fuzzing
from tests.fuzzing import DAMAGE, DISTRIBUTIONS, FILES, VALUES, Mutation

_DOCS = {f: list(fuzzing.paths(fuzzing.load(f))) for f in FILES}
_REFERENCE_KEYS = {"service", "pool", "sku", "model", "region", "calibration", "regions_file", "skus_file", "targets"}


@st.composite
def mutations(draw) -> Mutation:
    file = draw(st.sampled_from(sorted(FILES)))
    kind = draw(st.sampled_from(["value", "value", "dist", "delete", "unknown", "reference", "damage"]))
    if kind == "damage":
        return Mutation(file, kind, (), draw(st.sampled_from(DAMAGE)))
    nodes = [(p, v) for p, v in _DOCS[file] if p]
    if kind == "dist":
        nodes = [(p, v) for p, v in nodes if isinstance(v, (int, float)) and not isinstance(v, bool)] or nodes
        return Mutation(file, kind, draw(st.sampled_from([p for p, _ in nodes])), draw(st.sampled_from(DISTRIBUTIONS)))
    if kind == "reference":
        refs = [p for p, v in nodes if isinstance(v, str) and (p[-1] in _REFERENCE_KEYS or isinstance(p[-1], int))]
        # keys of mappings that others refer to (languages, services, pools, models, SKUs, regions)
        refs += [p for p, v in nodes if isinstance(v, dict) and len(p) >= 2 and not isinstance(p[-1], int)]
        path = draw(st.sampled_from(refs))
        return Mutation(file, "reference", path, "zz")
    if kind == "delete":
        return Mutation(file, kind, draw(st.sampled_from([p for p, _ in nodes if not isinstance(p[-1], int)])))
    if kind == "unknown":
        return Mutation(file, kind, draw(st.sampled_from([p for p, v in nodes if isinstance(v, dict)] or [p for p, _ in nodes])))
    return Mutation(file, kind, draw(st.sampled_from([p for p, _ in nodes])), draw(st.sampled_from(VALUES)))


def _check(m: Mutation, tmp_path_factory) -> tuple[str, str]:
    """Check one mutant in a fresh copy of configs/. A reference mutation that lands on a
    mapping renames its key (a language, service, pool, model, SKU or region): what refers to
    it must then be refused."""
    work = fuzzing.workspace(tmp_path_factory.mktemp("fuzz") / "configs")
    if m.kind == "reference" and isinstance(fuzzing._parent(fuzzing.load(m.file), m.path)[m.path[-1]], dict):
        return _check_renamed_key(m, work)
    return fuzzing.check(m, work)


def _check_renamed_key(m: Mutation, work) -> tuple[str, str]:
    import copy

    import yaml

    data = copy.deepcopy(fuzzing.load(m.file))
    parent = fuzzing._parent(data, m.path)
    parent["zz"] = parent.pop(m.path[-1])
    (work / FILES[m.file]).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return fuzzing.check(Mutation(m.file, "value", (), data), work)


def _assert_good(outcome: str, detail: str, m: Mutation) -> None:
    assert outcome in {"refused", "ran"}, f"{outcome}: {m.describe()}\n{detail}"


_DEFAULT = settings(max_examples=600, deadline=None, derandomize=True,
                    database=None, suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.mark.timeout(240)
@_DEFAULT
@given(m=mutations())
def test_config_mutants_are_refused_by_name_or_run_clean(m, tmp_path_factory):
    outcome, detail = _check(m, tmp_path_factory)
    _assert_good(outcome, detail, m)


@pytest.mark.fuzz
@pytest.mark.timeout(3600)
def test_fuzz_profile_counts(tmp_path_factory, capsys):
    """The longer profile: a seeded sample of mutants, every outcome counted and printed."""
    n = int(os.environ.get("CARBONSIM_FUZZ_EXAMPLES", 600))
    results = []

    @settings(max_examples=n, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(m=mutations())
    def collect(m):
        outcome, detail = _check(m, tmp_path_factory)
        results.append((m, outcome, detail))

    collect()
    counts = fuzzing.tally(results)
    by_file = {f: sum(1 for m, _, _ in results if m.file == f) for f in FILES}
    with capsys.disabled():
        print(f"\nfuzz: {len(results)} mutants, by file {by_file}: {counts}")
        for m, outcome, detail in results:
            if outcome not in {"refused", "ran"} or os.environ.get("CARBONSIM_FUZZ_VERBOSE") and outcome == "ran":
                print(f"  {outcome}: {m.describe()} {detail[:300]}")
    assert counts["traceback"] == counts["hang"] == counts["wrong"] == counts["unnamed"] == 0
