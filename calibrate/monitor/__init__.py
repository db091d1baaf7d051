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

from importlib import import_module

# Where each public name lives. Names load on first use (PEP 562), so that importing a
# submodule (the CLI's, say) does not import the middleware and the web stack with it.
_EXPORTS = {
    "Budgets": "budget", "Refusal": "budget",
    "BudgetSpec": "config", "MonitorConfig": "config", "load_monitor_config": "config",
    "Metrics": "metrics",
    "CarbonMiddleware": "middleware",
    "CarbonMonitor": "monitor",
    "RouteSpec": "routes", "UsageError": "routes", "carbon_route": "routes", "report_usage": "routes",
    "SCHEMA_VERSION": "store", "Store": "store", "StoreError": "store", "report": "store",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


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
    "UsageError",
    "carbon_route",
    "load_monitor_config",
    "report",
    "report_usage",
]
