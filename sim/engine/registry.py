"""Simulation engines, keyed by name: each turns an ``EngineInputs`` into job timings.

The SimPy engine is the reference; any other engine must reproduce it job by job on the
same inputs. ``auto`` picks the fast engine wherever it supports the scenario
(``sim.engine.fast.unsupported``), SimPy otherwise.
"""

from __future__ import annotations

from typing import Callable

from .simpy_model import simulate
from .types import EngineInputs, Timings

Engine = Callable[[EngineInputs], Timings]


def simpy_engine(inp: EngineInputs) -> Timings:
    return simulate(inp.jobs, inp.file_arrival_s, inp.pools, inp.services)


def fast_engine(inp: EngineInputs) -> Timings:
    from .fast import simulate_fast

    return simulate_fast(inp.jobs, inp.file_arrival_s, inp.pools, inp.services)


ENGINES: dict[str, Engine] = {"simpy": simpy_engine, "fast": fast_engine}


def choose_engine(name: str, scenario=None) -> str:
    """Resolve ``auto`` to a concrete engine for ``scenario``; refuse ``fast`` where it cannot run it."""
    from .fast import unsupported

    if name == "auto":
        return "fast" if scenario is not None and not unsupported(scenario) else "simpy"
    get_engine(name)
    if name == "fast" and scenario is not None and (reasons := unsupported(scenario)):
        raise ValueError(f"the fast engine cannot run this scenario: {'; '.join(reasons)}; use --engine simpy or auto")
    return name


def engine_note(requested: str, chosen: str, scenario) -> str | None:
    """Why ``auto`` chose the SimPy engine (what the fast engine cannot run), for the manifest."""
    from .fast import unsupported

    if requested != "auto" or chosen != "simpy" or scenario is None:
        return None
    return "; ".join(unsupported(scenario)) or None


def get_engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine `{name}`; use one of {sorted(ENGINES)}") from None
