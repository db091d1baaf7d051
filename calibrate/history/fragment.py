"""The scenario fragment a growth fit writes, and its merge into a scenario.

The fragment holds a ``workload`` mapping with the fields the fit replaces
(``base_files_per_month``, ``growth.monthly_rate``, ``count_model``, ``dispersion``,
``languages``), a ``start_month`` when no scenario was given, and a ``fit`` mapping that
records the data and the method. No scenario field takes a source, so the record lives in
``fit`` (and in the header comments); ``merge_fragment`` leaves it out, and the merged
scenario is validated by the scenario schema before anything is written.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path

import yaml

from sim.config.errors import read_yaml, validate_model
from sim.config.scenario import CONTENT_TYPES, Scenario

from .counts import HistoryError, month_index
from .growth import LEVEL, GrowthFit

REPLACED = ("base_files_per_month", "count_model", "dispersion", "languages")
RATE_FLOOR = -0.99  # a rate at or below -100% a month has no meaning: truncate the normal there


def _content_mix(gf: GrowthFit, code: str, scenario: dict | None) -> dict[str, float]:
    """Content shares of ``code``: counted in the fitted regime, else the scenario's."""
    table = gf.table
    if table.content is not None and code in table.content:
        lo = month_index(gf.fit_from) - table.first_month
        counts = {c: int(v[lo:].sum()) for c, v in table.content[code].items()}
        total = sum(counts.values())
        if total > 0:
            unknown = sorted(set(counts) - set(CONTENT_TYPES))
            if unknown:
                raise HistoryError(f"{table.source}: content type(s) {unknown}; use {list(CONTENT_TYPES)}")
            return _rounded_shares({c: n / total for c, n in counts.items() if n > 0})
    lang = ((scenario or {}).get("workload", {}).get("languages") or {}).get(code)
    if lang and "content_mix" in lang:
        return dict(lang["content_mix"])
    raise HistoryError(f"{table.source}: no content type for language {code!r}; add a `content` column to the "
                       "history, or give --scenario with that language's content_mix")


def _rounded_shares(shares: dict[str, float]) -> dict[str, float]:
    """Shares to 4 decimals, still summing to 1 (the remainder goes to the largest)."""
    out = {k: round(v, 4) for k, v in shares.items()}
    top = max(out, key=out.get)
    out[top] = round(out[top] + 1.0 - sum(out.values()), 4)
    return out


def rate_distribution(gf: GrowthFit) -> dict:
    """The epistemic distribution of the monthly rate: a normal centred on the estimate with
    the sd that matches the profile-likelihood interval's width, truncated at -0.99 (and
    within the open end's search bound when an end is open). The scenario refuses a rate
    that could reach -1 (no files at all), so the truncation is always written."""
    sd = gf.rate_sd()
    if sd is None:  # an end is open: span the estimate to the search bound on that side
        lo, hi = gf.rate_interval
        lo = lo if lo is not None else math.expm1(-2.0)
        hi = hi if hi is not None else math.expm1(2.0)
        sd = (hi - lo) / 3.29
    return {"dist": "normal", "mean": round(gf.rate, 5), "sd": round(max(sd, 1e-5), 5), "low": RATE_FLOOR}


def build_fragment(gf: GrowthFit, scenario: dict | None = None) -> dict:
    """The fragment as a mapping (see the module docstring)."""
    shares = _rounded_shares(gf.shares)
    languages = {code: {"share": shares[code], "start_month": gf.start_months[code],
                        "content_mix": _content_mix(gf, code, scenario)} for code in gf.languages}
    workload: dict = {"base_files_per_month": round(gf.base_files_per_month, 2),
                      "growth": {"monthly_rate": rate_distribution(gf)}, "count_model": gf.count_model}
    if gf.count_model == "negative_binomial":
        workload["dispersion"] = round(gf.fit.k, 3)
    workload["languages"] = languages
    frag: dict = {}
    if scenario is None:
        frag["start_month"] = gf.reference_month
    frag["workload"] = workload
    frag["fit"] = fit_record(gf)
    return frag


def fit_record(gf: GrowthFit) -> dict:
    """What the ``fit`` mapping records: data, method, estimates and their intervals."""
    lo, hi = gf.rate_interval
    test = gf.break_test
    return {
        "source": gf.table.source,
        "months": [gf.table.months[0], gf.table.months[-1]],
        "fitted_from": gf.fit_from,
        "reference_month": gf.reference_month,
        "files": int(gf.table.files.sum()),
        "method": (f"maximum likelihood, {gf.count_model.replace('_', ' ')} counts around base*share*(1+rate)**month; "
                   f"{int(LEVEL * 100)}% interval of the rate by profile likelihood"),
        "rate": {"estimate": round(gf.rate, 5), f"interval_{int(LEVEL * 100)}": [_r(lo), _r(hi)]},
        "dispersion": None if math.isinf(gf.fit.k) else round(gf.fit.k, 3),
        "poisson_test_p": round(gf.poisson_p_value, 4),
        "break": {
            "month": gf.break_month,
            "declared": gf.break_declared is not None,
            "test": None if test is None else {"best_month": test.month, "lr": round(test.lr, 3), "df": test.df,
                                               "p_value": round(test.p_value, 4), "candidates": test.candidates},
        },
        "dropped_languages": list(gf.dropped),
    }  # fmt: skip


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 5)


def fragment_text(frag: dict) -> str:
    """The fragment's YAML with header comments naming the data and the fit."""
    rec = frag["fit"]
    lo, hi = next(v for k, v in rec["rate"].items() if k.startswith("interval"))
    lines = [
        f"# Growth fitted by `carbonsim calibrate growth` from {rec['source']}",
        f"# months {rec['months'][0]} to {rec['months'][1]} (fitted from {rec['fitted_from']}), {rec['files']} files;",
        f"# {rec['method']}.",
        f"# rate {rec['rate']['estimate']:+.4f}/month, interval [{_fmt(lo)}, {_fmt(hi)}]; month 0 = {rec['reference_month']}.",
        "# Merge: replace the scenario's workload.base_files_per_month, growth.monthly_rate, count_model,",
        "# dispersion and languages with these (or use --write-scenario). `fit` is a record, not a scenario field.",
    ]
    return "\n".join(lines) + "\n" + yaml.safe_dump(frag, sort_keys=False, allow_unicode=True)


def _fmt(x: float | None) -> str:
    return "open" if x is None else f"{x:+.4f}"


def merge_fragment(scenario: dict, frag: dict) -> dict:
    """``scenario`` with the fragment's workload fields (and start month) in place; the
    fragment's ``languages`` replace the scenario's whole mapping, ``fit`` is left out."""
    out = copy.deepcopy(scenario)
    wl = out.setdefault("workload", {})
    new = frag["workload"]
    for key in REPLACED:
        if key not in new:
            wl.pop(key, None)
    for key, value in new.items():  # in place: the scenario's order of fields is kept
        if key == "growth":
            wl.setdefault("growth", {})["monthly_rate"] = value["monthly_rate"]
        else:
            wl[key] = value
    if "start_month" in frag:
        out["start_month"] = frag["start_month"]
    return out


def rebase_paths(scenario: dict, source: Path, target: Path) -> dict:
    """``scenario`` (read from ``source``) with its file references made relative to
    ``target``'s folder, so that a copy written elsewhere still finds its profiles and
    catalogues (the scenario's references are relative to its own file)."""
    out = dict(scenario)

    def moved(ref: str) -> str:
        if Path(ref).is_absolute():
            return ref
        return os.path.relpath((Path(source).resolve().parent / ref).resolve(), Path(target).resolve().parent)

    for key, default in (("calibration", None), ("gpu_profiles", None), ("regions_file", "azure/regions.yaml"),
                         ("skus_file", "azure/skus.yaml")):
        ref = out.get(key, default)
        if isinstance(ref, str):
            out[key] = moved(ref)
        elif isinstance(ref, list):
            out[key] = [moved(r) for r in ref]
    grid = (out.get("carbon") or {}).get("grid_profile")
    if grid is not None:
        out["carbon"] = {**out["carbon"], "grid_profile": moved(grid) if isinstance(grid, str) else {**grid, "path": moved(grid["path"])}}
    return out


def load_scenario_dict(path: Path) -> dict:
    """The scenario file as a mapping, checked against the schema (ConfigError otherwise)."""
    data = read_yaml(Path(path))
    validate_model(path, data, Scenario)
    return data


def check_merged(path: Path | str, merged: dict) -> None:
    """Refuse a merge the scenario schema would refuse (ConfigError naming each field)."""
    validate_model(f"{path} (merged with the growth fit)", merged, Scenario)

