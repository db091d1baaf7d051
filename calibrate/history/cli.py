"""``carbonsim calibrate growth``: fit the workload's growth to the API's own history."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("growth")
@click.argument("history")
@click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Scenario whose month 0 the fit refers to (and whose content mixes it keeps when the history has none).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the scenario fragment (YAML) here.")
@click.option("--write-scenario", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a copy of --scenario with the fit merged in.")
@click.option("--break", "declared_break", metavar="YYYY-MM", help="Declare a break in the trend: fit from this month on.")
@click.option("--no-break-test", is_flag=True, help="Fit all months as one regime (no change-point test).")
@click.option("--service", "services", multiple=True, help="Monitor store: the service whose requests count files; repeatable.")
@click.option("--kql", type=click.Path(dir_okay=False, path_type=Path), help="Azure Monitor: a KQL file to run instead of the default.")
@click.option("--months", type=click.IntRange(min=3), default=24, show_default=True, help="Azure Monitor: months to look back.")
@click.option("--figures", type=click.Path(file_okay=False, path_type=Path), default=Path("figures"), show_default=True,
              help="Folder for growth_fit.png.")
def growth(history, scenario_path, out, write_scenario, declared_break, no_break_test, services, kql, months, figures) -> None:
    """Fit base volume, monthly growth rate (with its interval), language shares and starts,
    and dispersion to the monthly counts in HISTORY: a CSV (month, language, files[, content]),
    a monitor store (.db), a saved Azure Monitor response (.json), appinsights:<resource id>
    or loganalytics:<workspace id>."""
    from sim.config.errors import ConfigError, atomic_write_text

    from .counts import HistoryError
    from .fragment import (
        build_fragment,
        check_merged,
        fragment_text,
        load_scenario_dict,
        merge_fragment,
        rebase_paths,
    )
    from .growth import fit_growth
    from .plot import plot_growth
    from .readers import load_history

    if write_scenario and not scenario_path:
        raise click.UsageError("--write-scenario needs --scenario")
    try:
        scenario = load_scenario_dict(scenario_path) if scenario_path else None
        table = load_history(history, tuple(services), kql.read_text(encoding="utf-8") if kql else None, months)
        gf = fit_growth(table, scenario["start_month"] if scenario else None, declared_break, not no_break_test)
        frag = build_fragment(gf, scenario)
        merged = None
        if scenario is not None:
            merged = merge_fragment(scenario, frag)
            check_merged(scenario_path, merged)
    except (HistoryError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    _diagnostics(gf)
    text = fragment_text(frag)
    if out:
        atomic_write_text(out, text)
        click.echo(f"{out}: fragment written")
    else:
        click.echo(text)
    if write_scenario:
        import yaml

        header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
        copy = rebase_paths(merged, scenario_path, write_scenario)
        atomic_write_text(write_scenario, header + yaml.safe_dump(copy, sort_keys=False, allow_unicode=True))
        click.echo(f"{write_scenario}: scenario with the fit written")
    png = plot_growth(gf, Path(figures) / "growth_fit.png")
    click.echo(f"{png}: figure written")


def _diagnostics(gf) -> None:
    from .growth import MIN_SEGMENT, residual_rows

    lo, hi = gf.rate_interval
    t = gf.table
    click.echo(f"history: {t.source}, {t.months[0]} to {t.months[-1]} ({len(t.months)} months, {int(t.files.sum())} files)")
    for note in t.notes:
        click.echo(f"  note: {note}", err=True)
    test = gf.break_test
    if gf.break_declared:
        click.echo(f"break: declared at {gf.break_declared}; fitted from there")
    elif test is not None:
        verdict = "detected" if gf.break_month else "none"
        click.echo(f"break: {verdict} (best {test.month}, LR {test.lr:.1f} on {test.df} df, p {test.p_value:.3g} "
                   f"Bonferroni over {test.candidates} months)")
    else:
        click.echo(f"break: not tested (fewer than {2 * MIN_SEGMENT} months)")
    click.echo(f"count model: {gf.count_model}" + ("" if gf.count_model == "poisson" else f", dispersion k {gf.fit.k:.1f}")
               + f" (Poisson test p {gf.poisson_p_value:.3g})")
    span = f"[{'open' if lo is None else f'{lo:+.4f}'}, {'open' if hi is None else f'{hi:+.4f}'}]"
    click.echo(f"rate: {gf.rate:+.4f}/month, 90% profile-likelihood interval {span}")
    if lo is None or hi is None:
        click.echo("  the data do not bound the rate on that side: keep a prior or wait for more months")
    click.echo(f"base at {gf.reference_month}: {gf.base_files_per_month:,.1f} files/month")
    for code in gf.languages:
        click.echo(f"  {code}: share {gf.shares[code]:.3f}, start month {gf.start_months[code]}")
    for code in gf.dropped:
        click.echo(f"  {code}: no file since {gf.fit_from}; left out of the fragment", err=True)
    click.echo("month      observed   expected  residual")
    for r in residual_rows(gf):
        click.echo(f"{r['month']}  {r['observed']:9d}  {r['expected']:9.1f}  {r['pearson']:+8.2f}")
