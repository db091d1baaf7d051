"""Run folders: written atomically, with the resolved config and a manifest.

A run is built in a hidden ``.NAME.partial`` folder beside its final place and renamed
when every file is written; ``manifest.json`` (with ``"complete": true``) is the last file
written. An interrupted run therefore never leaves a folder that looks complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from sim.config.resolve import Resolved, service_model
from sim.forecast.managed import managed_services
from sim.forecast.managed import provenance as managed_provenance

from .run import MonteCarloResult

if TYPE_CHECKING:  # imported where tables are written: a run opens its folder before (sim.montecarlo.run)
    import pandas as pd

MANIFEST = "manifest.json"
_PACKAGES = ("carbonsim", "simpy", "numpy", "pandas", "scipy", "pydantic", "pyarrow", "dask", "distributed", "pymcdm", "matplotlib", "ecologits")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def run_folder_name(scenario_name: str, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}_{scenario_name}"


class RunWriter:
    """Collects a run's files in a partial folder, then publishes it in one rename."""

    def __init__(self, final_dir: Path):
        self.final = Path(final_dir)
        if self.final.exists():
            raise FileExistsError(f"{self.final} already exists; choose another --out")
        self.tmp = self.final.parent / f".{self.final.name}.partial"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)

    def path(self, name: str) -> Path:
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_text(self, name: str, text: str) -> None:
        self.path(name).write_text(text, encoding="utf-8")

    def write_table(self, name: str, df: pd.DataFrame) -> None:
        import pandas as pd

        if name.endswith(".parquet"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            # Dictionary encoding only where values repeat (labels, months, counts of
            # replications): tried on millions of distinct amounts it is abandoned page after
            # page, which made writing a 1,000-replication table half as slow again.
            # Statistics (min/max per page, for readers' filters) on every column but the
            # categorical labels: on those they cost a quarter of the monthly table's
            # writing time, and a reader filters labels through the dictionary anyway.
            table = pa.Table.from_pandas(df, preserve_index=False)
            repeated = [c for c in df.columns if not pd.api.types.is_float_dtype(df[c].dtype)]
            plain = [c for c in df.columns if not isinstance(df[c].dtype, pd.CategoricalDtype)]
            pq.write_table(table, self.path(name), use_dictionary=repeated, write_statistics=plain)
        else:
            df.to_csv(self.path(name), index=False)

    def commit(self, manifest: dict) -> Path:
        manifest = {**manifest, "files": sorted(str(p.relative_to(self.tmp)) for p in self.tmp.rglob("*") if p.is_file()), "complete": True}
        self.write_text(MANIFEST, json.dumps(manifest, indent=2, default=str))
        os.replace(self.tmp, self.final)
        return self.final

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def base_manifest(res: Resolved, mc: MonteCarloResult, command: str) -> dict:
    """The manifest's entries known once the forecast is done; it carries what the report
    needs of the catalogues (the region's source), so that the report reads the run alone."""
    sc = res.scenario
    prof = res.profile
    region = res.regions.regions.get(sc.region)
    sources = {"region": f"{region.name} ({sc.region}): {region.source}"} if region is not None else {}
    if region is not None and region.pue_source:
        sources["pue"] = region.pue_source
    grid = res.grid_profile()
    if grid is not None:
        g = grid.g_per_kwh
        sources["grid_profile"] = (f"{grid.path} (column {grid.column}): hourly, mean {g.mean():.1f}, "
                                   f"min {g.min():.1f}, max {g.max():.1f} gCO2e/kWh")
    return {
        "command": command,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "scenario": {"name": sc.name, "path": str(res.path), "sha256": sha256(res.path)},
        "seed": sc.seed,
        "replications": int(mc.replications["replication"].nunique()),
        "horizon_months": sc.horizon_months,
        "start_month": sc.start_month,
        "engine": mc.engine,
        "wall_s": round(mc.wall_s, 3),
        "jobs_simulated": mc.jobs,
        "jobs_per_s": round(mc.jobs / mc.wall_s, 1) if mc.wall_s > 0 else None,
        "calibration": {
            "path": str(res.profile_path),
            "sha256": sha256(res.profile_path),
            "name": prof.name,
            "method": prof.measurement.method,
            "date": str(prof.measurement.date) if prof.measurement.date else None,
            "samples": prof.measurement.samples,
            "models": {key: model.source for key, model in (service_model(res, name) for name in sc.services) if model is not None},
            "layers": [{"path": str(p), "sha256": sha256(p)} for p in res.profile_paths],
            "model_files": {svc.model: str(res.layers.model_sources[svc.model]) for svc in sc.services.values()}
            if res.layers is not None else {},
            "warnings": list(res.warnings),
            "gpu_profiles": {gpu: {"path": str(p), "sha256": sha256(p), "name": res.gpu_profiles[gpu].name,
                                   "method": res.gpu_profiles[gpu].measurement.method}
                             for gpu, p in res.gpu_profile_paths.items()},
        },
        "region": sc.region,
        "carbon_sources": sources,
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "packages": package_versions(),
        **({"managed": managed_provenance(res)} if managed_services(res) else {}),
        **mc.meta,
    }


def summary_markdown(res: Resolved, head: dict) -> str:
    sc = res.scenario
    h, fy = head["horizon_co2e_kg"], head["final_year_co2e_kg"]
    lines = [
        f"# {sc.name}: forecast summary",
        "",
        f"{sc.horizon_months} months from {sc.start_month}, region {sc.region}, {head.get('replications', '')} replications.".replace(" ,", ","),
        "",
        "| figure | P50 | P90 |",
        "|---|---|---|",
        f"| emissions over the horizon (kgCO2e) | {h['p50']:,.0f} | {h['p90']:,.0f} |",
        f"| emissions in the final year (kgCO2e) | {fy['p50']:,.0f} | {fy['p90']:,.0f} |",
        f"| facility energy over the horizon (kWh) | {head['facility_kwh']['p50']:,.0f} | {head['facility_kwh']['p90']:,.0f} |",
        f"| files served | {head['files_served']['p50']:,.0f} | {head['files_served']['p90']:,.0f} |",
        f"| gCO2e per file served | {head['co2e_g_per_file']['p50']:,.1f} | {head['co2e_g_per_file']['p90']:,.1f} |",
        "",
        "Share of emissions by component: "
        # one decimal under 1%, so that a small share never reads 0%
        + ", ".join(f"{k} {v:.1%}" if 0 < v < 0.01 else f"{k} {v:.0%}"
                    for k, v in sorted(head["component_share"].items(), key=lambda kv: -kv[1])),
    ]
    if head.get("precision"):
        p = head["precision"]
        lines += ["", f"Replications: {p['replications']}, run until the 95% confidence intervals of the horizon emissions' "
                      f"mean, P5 and P95 were within {p['target_pct']:g}% of their values (between {p['minimum']} and "
                      f"{p['maximum']}): reached {p['reached_pct']:.2f}%" + ("." if p["met"] else ", short of the target "
                      "at the most replications allowed.")]
    if head["budget_kg"] is not None:
        lines += ["", f"Probability of exceeding the budget of {head['budget_kg']:,.0f} kgCO2e: {head['p_exceed_budget']:.0%}."]
    if head.get("capacity"):
        from .capacity import capacity_markdown

        lines += capacity_markdown(head["capacity"])
    return "\n".join(lines) + "\n"


def _write_tables(writer: RunWriter, tables: dict[str, pd.DataFrame]) -> None:
    for name, df in tables.items():
        writer.write_table(name, df)


def write_forecast(writer: RunWriter, res: Resolved, mc: MonteCarloResult) -> dict:
    """Write the forecast's data files into ``writer``; return the headline figures."""
    from .bands import compute_bands, headline

    sc = res.scenario
    n = int(mc.replications["replication"].nunique())
    budget = sc.carbon.budget.total_kg if sc.carbon.budget else None
    writer.write_text("config.resolved.yaml", yaml.safe_dump(sc.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=False))
    # The tables are written by threads while the bands and headline are computed (pyarrow
    # releases the GIL while it encodes and writes): the monthly table, the largest, by one
    # of its own, so that it starts at once.
    with ThreadPoolExecutor(max_workers=2) as pool:
        written = [
            pool.submit(_write_tables, writer, {"monthly.parquet": mc.monthly}),
            pool.submit(_write_tables, writer, {"service_stats.parquet": mc.service_stats, "files.parquet": mc.files}),
        ]
        bands = compute_bands(mc.monthly, mc.files, n, sc.horizon_months, sc.start_month)
        head = headline(mc.monthly, mc.files, n, sc.horizon_months, budget)
        head["replications"] = n
        if "precision" in mc.meta:
            head["precision"] = mc.meta["precision"]
        if mc.capacity is not None:
            from .capacity import capacity_bands, capacity_headline

            writer.write_table("capacity.csv", capacity_bands(mc.capacity, sc, n))
            head["capacity"] = capacity_headline(mc.capacity, sc, n)
        writer.write_table("replications.csv", mc.replications)  # (while the monthly table is written)
        writer.write_table("bands.csv", bands)
        writer.write_text("headline.json", json.dumps(head, indent=2))
        writer.write_text("summary.md", summary_markdown(res, head))
        for w in written:
            w.result()  # re-raises a failed write
    return head
