"""Capacity over replications: ``capacity.csv``'s bands and the summary's plain words.

``capacity.csv`` is long: one row per month, pool and metric, with the mean and the P5,
P50 and P95 over replications. Metrics: ``utilisation`` (busy share of the provisioned
slot time), ``instances`` (mean provisioned over the month), ``instance_hours``,
``wait_p95_s`` (P95 wait of the pool's jobs) and ``latency_p95_s`` (P95 end-to-end
latency of the files that used the pool).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from sim.config.scenario import Scenario

from .bands import month_labels

CAPACITY_COLUMNS = ("month", "period", "pool", "metric", "mean", "p5", "p50", "p95")
CAPACITY_METRICS = ("utilisation", "instances", "instance_hours", "wait_p95_s", "latency_p95_s")
BUSY_SHARE = 0.8  # utilisation from which a pool is said to need more capacity


def _cube(cap: pd.DataFrame, column: str, pools: list[str], replications: int, horizon: int) -> np.ndarray:
    """``column`` as replications x months x pools (NaN where a cell has no value)."""
    out = np.full((replications, horizon, len(pools)), np.nan)
    p = cap["pool"].astype(str).map({name: k for k, name in enumerate(pools)}).to_numpy()
    out[cap["replication"].to_numpy(), cap["month"].to_numpy(), p] = cap[column].to_numpy(float)
    return out


def capacity_cubes(cap: pd.DataFrame, sc: Scenario, replications: int) -> dict[str, np.ndarray]:
    """Every capacity metric as replications x months x pools (pools in the scenario's order)."""
    pools = list(sc.pools)
    h = sc.horizon_months
    cubes = {m: _cube(cap, m, pools, replications, h) for m in ("utilisation", "instances", "wait_p95_s", "latency_p95_s")}
    cubes["instance_hours"] = _cube(cap, "instance_s", pools, replications, h) / 3600.0
    cubes["offered_instances"] = _cube(cap, "offered_instances", pools, replications, h)
    return cubes


def capacity_bands(cap: pd.DataFrame, sc: Scenario, replications: int) -> pd.DataFrame:
    """``capacity.csv``'s rows (see the module's docstring)."""
    cubes = capacity_cubes(cap, sc, replications)
    labels = month_labels(sc.start_month, sc.horizon_months)
    rows = []
    with warnings.catch_warnings():  # a cell without values in any replication is NaN, as meant
        warnings.simplefilter("ignore", RuntimeWarning)
        for metric in CAPACITY_METRICS:
            cube = cubes[metric]
            mean = np.nanmean(cube, axis=0)
            q = np.nanpercentile(cube, [5, 50, 95], axis=0)
            for m in range(sc.horizon_months):
                for k, pool in enumerate(sc.pools):
                    rows.append((m, labels[m], pool, metric, mean[m, k], q[0, m, k], q[1, m, k], q[2, m, k]))
    return pd.DataFrame(rows, columns=list(CAPACITY_COLUMNS))


def capacity_headline(cap: pd.DataFrame, sc: Scenario, replications: int) -> dict:
    """Per pool: the month utilisation first passes ``BUSY_SHARE`` (P10, P50, P90 over
    replications; None where it does not within the horizon), the final month's
    utilisation and provisioned instances (P50, P90), and whether the pool saturates."""
    cubes = capacity_cubes(cap, sc, replications)
    labels = month_labels(sc.start_month, sc.horizon_months)
    h = sc.horizon_months
    out = {}
    for k, (name, pool) in enumerate(sc.pools.items()):
        util = np.nan_to_num(cubes["utilisation"][:, :, k])
        busy = util > BUSY_SHARE
        first = np.where(busy.any(axis=1), busy.argmax(axis=1), h)  # h: not within the horizon
        months = {f"p{p}": _month(np.percentile(first, p, method="inverted_cdf"), labels) for p in (10, 50, 90)}
        final_util = util[:, -1]
        final_inst = np.nan_to_num(cubes["instances"][:, -1, k])
        autoscale = pool.provisioning.policy == "autoscale"
        entry = {
            "policy": pool.provisioning.policy,
            "first_busy_month": months,
            "final_utilisation": {"p50": float(np.percentile(final_util, 50)), "p90": float(np.percentile(final_util, 90))},
            "final_instances": {"p50": float(np.percentile(final_inst, 50)), "p90": float(np.percentile(final_inst, 90))},
            "saturates": bool(np.percentile(final_util, 50) >= 1.0) and not autoscale,
        }
        # instances that keep the work released in the final month at BUSY_SHARE at P90
        offered = np.nan_to_num(cubes["offered_instances"][:, -1, k])
        entry["instances_needed"] = max(1, math.ceil(float(np.percentile(offered, 90)) / BUSY_SHARE - 1e-9))
        if autoscale:
            entry["at_cap"] = bool(np.percentile(final_inst, 90) >= pool.provisioning.max_instances - 1e-9 and
                                   np.percentile(final_util, 50) >= BUSY_SHARE)
        out[name] = entry
    return out


def _month(index: float, labels: list[str]) -> str | None:
    i = int(index)
    return labels[i] if i < len(labels) else None


def capacity_markdown(head: dict) -> list[str]:
    """The summary's lines on capacity: when each pool gets busy, what the final month needs,
    and a saturating pool said in plain words with its fix."""
    lines = ["", "## Capacity", ""]
    for name, e in head.items():
        m = e["first_busy_month"]
        if m["p10"] is None:  # the earliest decile never gets there
            lines.append(f"- Pool `{name}` stays below {BUSY_SHARE:.0%} utilisation over the whole horizon in 90% of replications.")
        else:
            lines.append(f"- Pool `{name}` first passes {BUSY_SHARE:.0%} utilisation in {_say(m['p10'])} (P10), "
                         f"{_say(m['p50'])} (P50), {_say(m['p90'])} (P90).")
        u, i = e["final_utilisation"], e["final_instances"]
        if e["policy"] == "autoscale":
            lines.append(f"- With autoscaling, the final month needs {i['p50']:.2f} instances on average (P50; P90 {i['p90']:.2f}), "
                         f"{math.ceil(i['p90'] - 1e-9)} at most of its month at P90; utilisation {u['p50']:.0%} (P50).")
            if e.get("at_cap"):
                lines.append(f"- Pool `{name}` runs at its cap (max_instances) and is still over {BUSY_SHARE:.0%} busy: "
                             f"raise max_instances to about {e['instances_needed']}.")
        elif e["saturates"]:
            lines.append(f"- **Pool `{name}` cannot keep up**: in the final month its GPUs would be busy {u['p50']:.0%} of the time "
                         f"(P50), so queues grow without end and files wait for hours or days. Fix: autoscale it "
                         f"(`provisioning: {{policy: autoscale, min_instances: 1, max_instances: {e['instances_needed']}}}`), "
                         f"give it {e['instances_needed']} instances, or cap the volume (`workload.growth.cap_files_per_month`).")
        else:
            lines.append(f"- Final month: utilisation {u['p50']:.0%} (P50), {u['p90']:.0%} (P90) on {i['p50']:.0f} instance(s).")
    return lines


def _say(label: str | None) -> str:
    return label if label is not None else "not within the horizon"
