"""Simulation engines, keyed by name: each turns sampled inputs into job timings.

The SimPy engine is the reference; any other engine must reproduce it job by job on the
same ``ReplicationInputs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .model import Timings, simulate

if TYPE_CHECKING:
    from .replication import ReplicationInputs

Engine = Callable[["ReplicationInputs"], Timings]


def simpy_engine(inp: "ReplicationInputs") -> Timings:
    return simulate(inp.jobs, inp.files.arrival_s, inp.pools, inp.services)


ENGINES: dict[str, Engine] = {"simpy": simpy_engine}


def choose_engine(name: str, scenario=None) -> str:
    """Resolve ``auto`` to a concrete engine for ``scenario``."""
    if name != "auto":
        get_engine(name)
        return name
    return "simpy"


def get_engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine `{name}`; use one of {sorted(ENGINES)}") from None
