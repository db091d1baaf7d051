"""Run the monitored test app under uvicorn in its own process (for the kill test).

    python serve_monitored.py --db carbon.db --fd 5
"""

from __future__ import annotations

import argparse
import socket

import uvicorn
from monitor_helpers import StepMeter, make_app

from calibrate.monitor import CarbonMonitor

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--fd", type=int, required=True, help="listening socket inherited from the parent")
    args = parser.parse_args()
    meter = StepMeter(step_j=1.0)
    monitor = CarbonMonitor(meter=meter, store=args.db, sample_interval_s=0.01, flush_interval_s=0.02)
    # socket(fileno=) keeps the address family (uvicorn's fd= assumes a Unix socket).
    server = uvicorn.Server(uvicorn.Config(make_app(monitor, meter), log_level="warning", timeout_graceful_shutdown=5))
    server.run(sockets=[socket.socket(fileno=args.fd)])
