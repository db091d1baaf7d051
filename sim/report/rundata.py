"""A finished run folder, read for the report: forecast files, decision files when present.

The report never simulates: everything it shows comes from these files. A folder from an
interrupted or older run is refused with :class:`RunFolderError`, which names the folder
and what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

#: Files the report needs, with the columns it reads.
REQUIRED: dict[str, tuple[str, ...]] = {
    "bands.csv": ("metric", "group_by", "month", "period", "group", "mean", "p5", "p25", "p50", "p75", "p90", "p95"),
    "headline.json": ("horizon_co2e_kg", "final_year_co2e_kg", "final_month_co2e_kg", "co2e_g_per_file",
                      "component_share", "budget_kg", "p_exceed_budget", "replications"),
    "monthly.parquet": ("replication", "month", "service", "content_type", "jobs", "audio_s", "co2e_kg"),
    "files.parquet": ("replication", "month", "language", "content_type", "requested", "served"),
    "replications.csv": ("replication", "co2e_kg"),
    "config.resolved.yaml": ("name", "horizon_months", "start_month", "services", "carbon"),
}

#: Columns read as well where a table has them.
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {"monthly.parquet": ("co2e_market_kg", "component", "language")}

#: Decision files: present together, or the options were not evaluated.
DECISION_REQUIRED: dict[str, tuple[str, ...]] = {
    "decision.csv": ("option", "criterion", "direction", "unit", "p50", "p95", "score_p50", "weight", "feasible"),
    "ranking.csv": ("method", "option", "score", "rank"),
    "decision.json": (),
}
DECISION_OPTIONAL: dict[str, tuple[str, ...]] = {
    "smaa.csv": ("option", "rank", "acceptability"),
    "decision_replications.parquet": ("option", "criterion", "replication", "value", "diff"),
    "decision_components.csv": ("option", "component", "p50", "diff_p50", "diff_mean"),
}


#: Capacity per month and pool (long form), when the run wrote it.
CAPACITY: dict[str, tuple[str, ...]] = {"capacity.csv": ("month", "period", "pool", "metric", "mean", "p5", "p50", "p95")}
#: Columns that must hold numbers (a string in one is a damaged file, refused by name).
NUMERIC: dict[str, tuple[str, ...]] = {
    "bands.csv": ("month", "mean", "p5", "p25", "p50", "p75", "p90", "p95"),
    "monthly.parquet": ("replication", "month", "jobs", "audio_s", "co2e_kg"),
    "files.parquet": ("replication", "month", "requested", "served"),
    "replications.csv": ("replication", "co2e_kg"),
    "decision.csv": ("p50", "p95", "score_p50", "weight"),
    "ranking.csv": ("score", "rank"),
    "smaa.csv": ("rank", "acceptability"),
}
#: Headline entries that are distributions: a mapping of statistic to number.
_HEADLINE_STATS = ("horizon_co2e_kg", "final_year_co2e_kg", "final_month_co2e_kg", "co2e_g_per_file")


class RunFolderError(Exception):
    """A run folder the report cannot use; the message names the folder and the fix."""

    def __init__(self, folder: Path, problems: list[str], fix: str):
        self.folder, self.problems, self.fix = Path(folder), problems, fix
        lines = [f"{folder}: cannot build a report from this folder"] + [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines + [f"  fix: {fix}"]))


@dataclass
class Decision:
    """The decision files of a run (see the decision step for their contract)."""

    matrix: pd.DataFrame
    ranking: pd.DataFrame
    info: dict
    smaa: pd.DataFrame | None = None
    replications: pd.DataFrame | None = None  # option x criterion x replication values and differences
    components: pd.DataFrame | None = None  # per option and emission component, P50 and difference to the baseline
    recommendation: dict[str, str] = field(default_factory=dict)


@dataclass
class RunData:
    """Everything the report shows, as read from one run folder."""

    folder: Path
    bands: pd.DataFrame
    headline: dict
    monthly: pd.DataFrame
    files: pd.DataFrame
    replications: pd.DataFrame
    config: dict
    manifest: dict
    decision: Decision | None = None
    capacity: pd.DataFrame | None = None  # capacity.csv: month, period, pool, metric, mean, p5, p50, p95

    @property
    def periods(self) -> list[str]:
        """Month labels ``YYYY-MM`` of the horizon, in order."""
        tot = self.bands[(self.bands["metric"] == "co2e_kg") & (self.bands["group_by"] == "total")]
        return list(tot.sort_values("month")["period"].astype(str))

    @property
    def budget_kg(self) -> float | None:
        return self.headline.get("budget_kg")

    def band(self, metric: str, group_by: str = "total") -> pd.DataFrame:
        """Rows of ``bands.csv`` for one metric and grouping, sorted by group then month."""
        b = self.bands[(self.bands["metric"] == metric) & (self.bands["group_by"] == group_by)]
        return b.sort_values(["group", "month"]).reset_index(drop=True)


def _read(path: Path, columns: tuple[str, ...] = ()) -> object:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        # Only the columns the report reads (the monthly table has millions of rows), each
        # converted as Arrow lets go of it: the table is never held twice.
        present = pq.read_schema(path).names
        wanted = [c for c in present if c in columns or c in OPTIONAL_COLUMNS.get(path.name, ())] if columns else None
        return pd.read_parquet(path, columns=wanted, to_pandas_kwargs={"self_destruct": True, "split_blocks": True})
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"period": str, "group": str})
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    if path.suffix in {".yaml", ".yml"}:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    return path.read_text(encoding="utf-8")


def _load_set(folder: Path, spec: dict[str, tuple[str, ...]], problems: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, cols in spec.items():
        p = folder / name
        if not p.is_file():
            problems.append(f"{name} is missing")
            continue
        try:
            obj = _read(p, cols)
        except Exception as exc:  # any reader failure means the same thing to the user: unreadable file
            problems.append(f"{name} cannot be read ({type(exc).__name__}: {exc})")
            continue
        damage = _damage(name, obj, cols)
        if damage:
            problems.append(f"{name} {damage}")
            continue
        out[name] = obj
    return out


def _damage(name: str, obj: object, cols: tuple[str, ...]) -> str | None:
    """What is wrong with a file that was read (its shape, its columns' types), or None."""
    if name.endswith((".json", ".yaml")) and not isinstance(obj, dict):
        return f"should hold a mapping, it holds {'nothing' if obj is None else type(obj).__name__}"
    have = set(obj.columns) if isinstance(obj, pd.DataFrame) else set(obj) if isinstance(obj, dict) else set()
    lacking = [c for c in cols if c not in have]
    if lacking:
        return f"lacks {', '.join(lacking)}"
    if isinstance(obj, pd.DataFrame):
        if obj.empty:
            return "has no rows"
        wrong = [c for c in NUMERIC.get(name, ()) if not pd.api.types.is_numeric_dtype(obj[c].dtype)]
        if wrong:
            return f"holds text where numbers are expected, in {', '.join(wrong)}"
    if name == "headline.json":
        bad = [k for k in _HEADLINE_STATS if not isinstance(obj[k], dict)
               or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj[k].values())]
        if bad:
            return f"holds something other than figures in {', '.join(bad)}"
    return None


def load_run(folder: Path | str, *, manifest: dict | None = None) -> RunData:
    """Read a run folder; raise :class:`RunFolderError` when it is incomplete or too old.

    ``manifest`` is given by ``carbonsim run`` while its folder is still being written (its
    manifest is written last); otherwise ``manifest.json`` must exist with ``"complete": true``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(folder, ["not a folder"], "give the path of a run folder written by `carbonsim simulate` or `run`")
    problems: list[str] = []
    if manifest is None:
        mpath = folder / "manifest.json"
        if not mpath.is_file():
            problems.append("manifest.json is missing: the run was interrupted or is not a carbonsim run")
        else:
            try:
                manifest = json.loads(mpath.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                problems.append(f"manifest.json cannot be read ({exc})")
            else:
                if not isinstance(manifest, dict) or manifest.get("complete") is not True:
                    problems.append('manifest.json does not say "complete": true: the run did not finish')
    data = _load_set(folder, REQUIRED, problems)
    if problems:
        raise RunFolderError(folder, problems, "run the forecast again with `carbonsim simulate` or `carbonsim run`")
    decision = _load_decision(folder)
    capacity = None
    if (folder / "capacity.csv").exists():
        cap = _load_set(folder, CAPACITY, problems)
        if problems:
            raise RunFolderError(folder, problems, "write capacity.csv again with the run (columns month, period, pool, "
                                                   "metric, mean, p5, p50, p95) or remove it")
        capacity = cap["capacity.csv"]
    return RunData(
        folder=folder, bands=data["bands.csv"], headline=data["headline.json"], monthly=data["monthly.parquet"],
        files=data["files.parquet"], replications=data["replications.csv"], config=data["config.resolved.yaml"],
        manifest=manifest or {}, decision=decision, capacity=capacity,
    )


def _load_decision(folder: Path) -> Decision | None:
    present = [n for n in DECISION_REQUIRED if (folder / n).exists()]
    if not present:
        return None
    problems: list[str] = []
    data = _load_set(folder, DECISION_REQUIRED, problems)
    opt = _load_set(folder, {n: c for n, c in DECISION_OPTIONAL.items() if (folder / n).exists()}, problems)
    if problems:
        raise RunFolderError(folder, problems, "evaluate the options again with `carbonsim run` (or `carbonsim decide`)")
    rec = {}
    for lang, name in (("en", "recommendation.md"), ("fr", "recommendation.fr.md")):
        if (folder / name).is_file():
            rec[lang] = (folder / name).read_text(encoding="utf-8")
    m = data["decision.csv"]
    m["option"] = m["option"].astype(str)
    return Decision(matrix=m, ranking=data["ranking.csv"], info=data["decision.json"], smaa=opt.get("smaa.csv"),
                    replications=opt.get("decision_replications.parquet"), components=opt.get("decision_components.csv"),
                    recommendation=rec)
