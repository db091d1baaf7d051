"""``carbonsim calibrate telemetry``: fit a calibration profile from a monitor store."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("telemetry")
@click.argument("db", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Profile YAML to write.")
@click.option("--month", "months", multiple=True, help="Only records of this month (YYYY-MM); repeatable.")
@click.option("--service", "services", multiple=True, help="Only this service; repeatable.")
@click.option(
    "--max-concurrency", type=click.IntRange(min=1), default=None,
    help="Only requests that never ran with more than N in flight (1: requests that ran alone).",
)  # fmt: skip
@click.option("--min-samples", type=click.IntRange(min=2), default=10, show_default=True, help="Fewest records to fit a service.")
@click.option("--name", default="telemetry", show_default=True, help="Profile name.")
@click.option("--key", "keys", multiple=True,
              help="Profile entry for a service's model, as service=model (default: the shipped scenario's model for the task).")
@click.option("--task", "tasks", multiple=True, help="Task of a service not named after one, as service=transcribe|translate|generate.")
def telemetry(db: Path, out: Path, months: tuple[str, ...], services: tuple[str, ...], max_concurrency: int | None,
              min_samples: int, name: str, keys: tuple[str, ...], tasks: tuple[str, ...]) -> None:  # fmt: skip
    """Fit time and energy models per service from the request records in DB (a monitor store)."""
    from sim.config.profile import dump_profile

    from .store import StoreError
    from .telemetry import Selection, fit_telemetry

    sel = Selection(months=list(months), services=list(services), max_concurrency=max_concurrency, min_samples=min_samples,
                    keys=_pairs("--key", keys), tasks=_pairs("--task", tasks))
    try:
        profile = fit_telemetry(db, sel, name=name)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    dump_profile(profile, out)
    for key, m in profile.models.items():
        q = m.fit["energy_j"]
        click.echo(f"{key} ({m.source.split(',')[0]}): {q.n} requests, units {m.units}, "
                   f"energy r2={q.r2 if q.r2 is None else round(q.r2, 3)}")
        if q.flags:
            click.echo(f"WARNING: {key}: energy flagged ({', '.join(q.flags)})", err=True)
    for f in profile.failures:
        click.echo(f"{f.model}: not fitted ({f.error})", err=True)
    click.echo(f"wrote {out}")


def _pairs(option: str, values: tuple[str, ...]) -> dict[str, str]:
    """``a=b`` pairs of a repeatable option; a malformed one is a usage error naming it."""
    out = {}
    for v in values:
        left, sep, right = v.partition("=")
        if not sep or not left or not right:
            raise click.UsageError(f"{option} {v!r}: write it as service=value")
        out[left] = right
    return out
