"""``import calibrate.monitor`` stays light: no numba, SciPy, pandas or matplotlib in a web worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numba", "scipy", "pandas", "matplotlib")

PROBE = """
import json, sys
import calibrate.monitor
from calibrate.monitor import CarbonMiddleware, CarbonMonitor, MonitorConfig, carbon_route, report_usage, Store, Metrics
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_monitor_loads_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})  # fmt: skip
    modules = json.loads(out.stdout)
    assert {"calibrate.monitor.middleware", "calibrate.monitor.store", "sim.config.units"} <= set(modules)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], heavy[:10]
