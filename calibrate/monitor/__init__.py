"""Live monitoring of a FastAPI service: per-request energy and carbon, budgets, metrics.

    from calibrate.monitor import CarbonMiddleware, carbon_route, report_usage

    app.add_middleware(CarbonMiddleware, store="carbon.db", budgets=[{"service": "generate", "monthly_g_co2e": 500}])

    @app.post("/generate")
    @carbon_route("generate", language_param="lang")
    async def generate(...):
        ...
        report_usage(input_token=n_in, output_token=n_out)

Imports neither torch nor any model library.
"""

from .budget import Budgets, Refusal
from .config import BudgetSpec, MonitorConfig, load_monitor_config
from .metrics import Metrics
from .middleware import CarbonMiddleware
from .monitor import CarbonMonitor
from .routes import RouteSpec, carbon_route, report_usage
from .store import SCHEMA_VERSION, Store, StoreError, report

__all__ = [
    "BudgetSpec",
    "Budgets",
    "CarbonMiddleware",
    "CarbonMonitor",
    "Metrics",
    "MonitorConfig",
    "Refusal",
    "RouteSpec",
    "SCHEMA_VERSION",
    "Store",
    "StoreError",
    "carbon_route",
    "load_monitor_config",
    "report",
    "report_usage",
]
