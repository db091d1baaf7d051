"""200 concurrent requests through a real uvicorn server: recorded once, energy conserved."""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter

import httpx
import pytest
from monitor_helpers import StepMeter, make_app, query, serve

from calibrate.monitor import CarbonMonitor

N = 200


async def _fire(base: str) -> list[tuple[str, float, int]]:
    """N overlapping requests over three monitored routes and one unmonitored one."""
    sent: list[tuple[str, float, int]] = []
    calls = []
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=N)) as client:
        for i in range(N):
            delay = 20 + (i * 7) % 80  # ms: requests of different lengths overlap
            kind = i % 4
            if kind == 0:
                sent.append(("transcribe", i + 0.5, i))
                calls.append(client.post("/transcribe", params={"seconds": i + 0.5, "lang": "es", "delay_ms": delay, "work_j": 3}))
            elif kind == 1:
                sent.append(("translate", float(i), i))
                calls.append(client.get(f"/translate/{'ar' if i % 3 else 'fr'}", params={"chars": i, "delay_ms": delay}))
            elif kind == 2:
                sent.append(("generate", float(i), i))
                calls.append(client.post("/generate", params={"tokens": i, "delay_ms": delay}))
            else:
                calls.append(client.get("/health"))
        responses = await asyncio.wait_for(asyncio.gather(*calls), timeout=60)
    assert [r.status_code for r in responses] == [200] * N
    return sent


@pytest.mark.slow
def test_concurrent_requests_recorded_once_and_energy_conserved(db):
    meter = StepMeter(step_j=2.0)
    monitor = CarbonMonitor(meter=meter, store=db, sample_interval_s=0.01, idle_power_w=50.0)
    app = make_app(monitor, meter)
    with serve(app) as base:
        asyncio.run(asyncio.sleep(0.1))  # a few idle intervals before the load
        sent = asyncio.run(_fire(base))
        asyncio.run(asyncio.sleep(0.1))
    # Shutdown took a last sample and flushed the store.

    rows = query(db, "SELECT service, units, energy_j, concurrency, metered, route FROM requests")
    unit_of = {"transcribe": "audio_second", "translate": "input_char", "generate": "output_token"}
    got = Counter((s, json.loads(u)[unit_of[s]]) for s, u, *_ in rows)
    want = Counter((s, v) for s, v, _ in sent)
    assert got == want  # every monitored request exactly once; /health not recorded
    assert {r[5] for r in rows} == {"/transcribe", "/translate/{lang}", "/generate"}
    assert all(r[4] == 1 for r in rows)
    assert max(r[3] for r in rows) > 10  # the requests really overlapped

    (total, idle, attributed, unattributed, failed), = query(
        db, "SELECT SUM(energy_j), SUM(idle_j), SUM(attributed_j), SUM(unattributed_j), SUM(energy_j IS NULL) FROM intervals"
    )
    (per_request,) = query(db, "SELECT SUM(energy_j) FROM requests")[0]
    measured = meter.readings[-1] - meter.readings[0]
    assert failed == 0 and unattributed == 0
    assert math.isclose(total, measured, rel_tol=1e-9)
    assert math.isclose(per_request, attributed, rel_tol=1e-9)
    assert math.isclose(per_request + idle, measured, rel_tol=1e-9)
    # The handlers' work (3 J per transcription) shows up on requests, the baseline as idle.
    assert per_request >= 3 * (N // 4) - 1e-6
    (idle_only,) = query(db, "SELECT SUM(idle_j) FROM intervals WHERE in_flight = 0")[0]
    assert idle_only > 0
    assert query(db, "SELECT COUNT(*) FROM intervals WHERE in_flight = 0 AND attributed_j > 0") == [(0,)]
    assert meter.closed
