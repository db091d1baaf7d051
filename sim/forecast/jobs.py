"""Jobs: what each file asks of each service, with its sampled time and energy.

A file passes the stages of its content type's pipeline in order; a stage may fan out
(translation into several languages), so a stage of a file is a *group* of jobs that run in
parallel, and the next group is released when the whole group has finished.

Per-job randomness comes from streams keyed by language, service, target and quantity, drawn
for every file of the language whatever the options, so an option changes only the jobs it
touches.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from sim.config.columns import ColumnStreams, draw_rows
from sim.config.resolve import Resolved, service_model
from sim.config.scenario import CONTENT_TYPES, pool_codes
from sim.config.units import WINDOW_S
from sim.engine.types import JobTable
from sim.kernels.indices import ix
from sim.kernels.rng import Streams

from .epistemic import Draws
from .plan import (
    GENERATE,
    TRANSCRIBE,
    UNITS,
    plan_of,
)
from .power import shares_of, stretch_to_share
from .workload import FileTable


def file_mask(res: Resolved, files: FileTable) -> np.ndarray:
    """Files served under the scenario's volume limits (all when there are none)."""
    keep = np.ones(len(files), dtype=bool)
    langs = files.languages
    for lim in res.scenario.workload.limits:
        sel = np.ones(len(files), dtype=bool)
        if lim.languages is not None:
            sel &= np.isin(files.language, [langs.index(c) for c in lim.languages if c in langs])
        if lim.content_types is not None:
            sel &= np.isin(files.content, [CONTENT_TYPES.index(c) for c in lim.content_types])
        keep &= ~sel | (files.keep_u >= lim.reduce_share)
        if lim.cap_files_per_month is not None:
            cap = int(lim.cap_files_per_month)
            cand = np.flatnonzero(sel & keep)
            order = cand[np.lexsort((files.arrival_s[cand], files.month[cand]))]
            months = files.month[order]
            # rank of each file inside its month, by arrival time
            first = np.searchsorted(months, months, side="left")
            rank = np.arange(len(order)) - first
            keep[order[rank >= cap]] = False
    return keep


class _Files(NamedTuple):
    """The files as ``_expand`` reads them: one entry per file, in table order."""

    language: np.ndarray
    content: np.ndarray
    month: np.ndarray
    duration_s: np.ndarray
    chars: np.ndarray
    served: np.ndarray
    lang_start: np.ndarray  # first row of each language's block in the draw matrix, plus the end


class _Costs(NamedTuple):
    """Per service, the drawn affine time (s) and energy (J): intercept, coefficients in
    ``UNITS`` order, residual sigma."""

    time_intercept: np.ndarray
    time_coef: np.ndarray
    time_sigma: np.ndarray
    energy_intercept: np.ndarray
    energy_coef: np.ndarray
    energy_sigma: np.ndarray


def _cost_arrays(res: Resolved, draws: Draws, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per service: the drawn affine cost's intercept, coefficients (in ``UNITS`` order) and residual sigma."""
    sc = res.scenario
    n = len(sc.services)
    intercept, coef, sigma = np.zeros(n), np.zeros((n, len(UNITS))), np.zeros(n)
    for si, name in enumerate(sc.services):
        cost = getattr(draws.models[service_model(res, name)[0]], which)
        intercept[si] = cost.intercept
        for unit, c in cost.coef.items():
            coef[si, UNITS.index(unit)] = c
        sigma[si] = cost.sigma
    return intercept, coef, sigma


def job_streams(res: Resolved, languages: tuple[str, ...], streams: Streams) -> list[ColumnStreams]:
    """Per language, the streams of its jobs' draws, to carry from one block of files to the
    next (``build_jobs``' ``carried``)."""
    plan = plan_of(res, languages)
    return [ColumnStreams(plan.columns[li], streams) for li in range(len(languages))]


def build_jobs(
    res: Resolved, files: FileTable, served: np.ndarray, draws: Draws, streams: Streams, details: bool = True,
    carried: list[ColumnStreams] | None = None,
) -> JobTable:
    """Expand the ``served`` files (see ``file_mask``) into jobs through the pipelines;
    sample each job's time and energy (and, with ``details``, its target and tokens).

    Every stream is drawn in full for its language whatever the options and masks: the
    i-th draw of a language's stream goes to its i-th file in table order, so an option
    changes only the jobs it touches. The draws go to one matrix, a row per file (the
    languages' blocks one after the other, language ``l``'s from row ``lang_start[l]``) and a
    column per stream (``sim.forecast.plan``), written row by row in compiled code; a compiled pass
    then walks the files once and emits the jobs sorted by (file, stage, target).

    ``carried`` (``job_streams``): the files are a block of a replication's, in order, and
    the draws go on from where the previous block left each language's streams, so blocks
    taken in order give the jobs of the whole table.
    """
    sc = res.scenario
    services = tuple(sc.services)
    pools = tuple(sc.pools)
    langs = files.languages
    plan = plan_of(res, langs)
    n_files, n_services, n_slots = len(files), len(services), len(plan.slots)
    lang_start = np.concatenate([[0], np.cumsum(np.bincount(files.language, minlength=len(langs)))])
    table = np.empty((n_files, 2 * n_services + 3 * n_slots))
    for li in range(len(langs)):
        if lang_start[li + 1] > lang_start[li]:
            draws_of = carried[li] if carried is not None else ColumnStreams(plan.columns[li], streams)
            draw_rows(table, slice(lang_start[li], lang_start[li + 1]), draws_of)
    costs = _Costs(*_cost_arrays(res, draws, "time_s"), *_cost_arrays(res, draws, "energy_j"))
    # at most the most jobs a file can have, per served file (the arrays' unused tails are never touched)
    capacity = int(np.count_nonzero(served)) * int(np.diff(plan.entries.entry_range, axis=1).max(initial=0))
    pool_of_service = np.array(pool_codes(sc, services, pools), dtype=np.int16)  # -1: managed, no pool
    file_columns = _Files(files.language, files.content, files.month, files.duration_s, files.text_chars, served, lang_start)
    out = _expand(file_columns, table, plan.offsets, pool_of_service, plan.entries, costs, capacity, details)
    (file, group, service, pool, language, content, target, time_s, energy_j, log_t, log_e, audio_s, tokens_in,
     tokens_out, group_first, group_next, group_file, n_jobs, n_groups) = out
    time_s, energy_j = time_s[:n_jobs], energy_j[:n_jobs]
    time_s *= np.exp(log_t[:n_jobs], out=log_t[:n_jobs])  # the residuals; exp(0) = 1 where sigma is 0
    energy_j *= np.exp(log_e[:n_jobs], out=log_e[:n_jobs])
    del log_t, log_e
    stretch_to_share(time_s, energy_j, shares_of(res, draws)[service[:n_jobs]])  # jobs on one card share its power
    return JobTable(
        file=file[:n_jobs], group=group[:n_jobs], service=service[:n_jobs], pool=pool[:n_jobs],
        language=language[:n_jobs], content=content[:n_jobs], target=target[:n_jobs] if details else None,
        time_s=time_s, energy_j=energy_j, audio_s=audio_s[:n_jobs],
        tokens_in=tokens_in[:n_jobs] if details else None, tokens_out=tokens_out[:n_jobs] if details else None,
        group_first_job=group_first[: n_groups + 1], group_next=group_next[:n_groups], group_file=group_file[:n_groups],
        services=services, pools=pools,
    )


@njit(cache=True, error_model="numpy")  # no zero-division checks in the loop
def _expand(files, table, offsets, pool_of_service, entries, costs, capacity, details):
    """Walk the files (``_Files``) in order and emit their jobs, sorted by (file, stage, target),
    through the plan's ``Entries`` with the ``_Costs`` drawn for the replication.

    ``table`` holds the files' draws, a row per file (language blocks from ``lang_start``)
    and the columns of each quantity from ``offsets`` (pass, input and output characters
    per token, residual, output tokens: see ``sim.forecast.plan``). A stage of a file runs when its service is enabled for the language, the file's pass
    draw is below the stage's probability, and the services it requires ran for the file;
    each target then gets a job from the month its language is offered. A stage's jobs
    form one group. Time (s) and energy (J) come out as the drawn affine means of the job's
    units, with the logs of their mean-one lognormal residuals (one ``z`` shared by both):
    the caller applies them, since a vectorised ``exp`` is several times cheaper than one
    call per job. Indices go through ``ix`` (known >= 0: no wrap-around check).
    """
    language, content, month, duration, chars, served, lang_start = files
    (entry_range, e_stage, e_service, e_probability, e_task, e_ratio, e_enabled, e_requires, e_target, e_target_start,
     e_slot) = entries
    t_intercept, t_coef, t_sigma, en_intercept, en_coef, en_sigma = costs
    file = np.empty(capacity, np.int32)
    group = np.empty(capacity, np.int32)
    service = np.empty(capacity, np.int16)
    pool = np.empty(capacity, np.int16)
    lang_out = np.empty(capacity, np.int16)
    content_out = np.empty(capacity, np.int16)
    described = capacity if details else 0  # target and tokens: written only with details
    target = np.empty(described, np.int16)
    time_s = np.empty(capacity)
    energy_j = np.empty(capacity)
    log_t = np.empty(capacity)
    log_e = np.empty(capacity)
    audio_s = np.empty(capacity)
    tokens_in = np.empty(described)
    tokens_out = np.empty(described)
    group_first = np.empty(capacity + 1, np.int64)
    group_next = np.empty(capacity, np.int64)
    group_file = np.empty(capacity, np.int32)
    c_pass, c_cpt_in, c_residual, c_cpt_out, c_tokens = offsets[0], offsets[1], offsets[2], offsets[3], offsets[4]
    j = 0
    g = 0
    next_draw = lang_start[:-1].copy()
    for f in range(language.shape[0]):
        li = ix(language[f])
        p = ix(next_draw[li])  # the file's row in the draw matrix: its language's next draw
        next_draw[li] += 1
        if not served[f]:
            continue
        ci = ix(content[f])
        ran = 0  # bit mask of the services that ran for the file
        last_group = -1
        e = ix(entry_range[li, ci])
        stop = ix(entry_range[li, ci + 1])
        c = chars[f]
        while e < stop:
            k = e_stage[e]
            s = ix(e_service[e])
            active = e_enabled[e] and table[p, ix(c_pass + s)] < e_probability[e]
            req = e_requires[e]
            if active and req != 0:  # every required service ran for the file (never, when req < 0)
                active = req > 0 and (req & ~ran) == 0
            # What the stage's jobs share: the file's input (one division per stage, not per job)
            task = e_task[e]
            if task == TRANSCRIBE:  # audio in, the transcript's tokens out
                audio = duration[f]
                window = max(1.0, np.ceil(audio / WINDOW_S)) if active else 0.0
                t_in = c_in = 0.0
            else:  # translate or generate: the text in
                audio = window = 0.0
                t_in = c / table[p, ix(c_cpt_in + s)] if active else 0.0  # chars per token > 0 (schema)
                c_in = c
            # affine means, units in ``UNITS`` order (the last, request, is 1), up to the
            # output tokens' term, which is the job's own
            mt0 = t_intercept[s] + t_coef[s, 0] * audio + t_coef[s, 1] * window + t_coef[s, 2] * t_in
            me0 = en_intercept[s] + en_coef[s, 0] * audio + en_coef[s, 1] * window + en_coef[s, 2] * t_in
            any_target = False
            while e < stop and e_stage[e] == k:
                if active and month[f] >= e_target_start[e]:
                    if not any_target:  # the stage's first job opens its group
                        gg = ix(g)
                        group_first[gg] = j
                        group_file[gg] = f
                        group_next[gg] = -1
                        if last_group >= 0:
                            group_next[ix(last_group)] = g
                        last_group = g
                        g += 1
                        any_target = True
                    slot = ix(e_slot[e])
                    if task == GENERATE:  # drawn tokens out
                        t_out = table[p, ix(c_tokens + slot)]  # >= 0: the schema bounds output_tokens
                    else:  # the transcript, or the translation (length ratio 1 for transcription)
                        t_out = c * e_ratio[e] / table[p, ix(c_cpt_out + slot)]
                    mt = mt0 + t_coef[s, 3] * t_out + t_coef[s, 4] * c_in + t_coef[s, 5]
                    me = me0 + en_coef[s, 3] * t_out + en_coef[s, 4] * c_in + en_coef[s, 5]
                    zz = table[p, ix(c_residual + slot)]
                    j = ix(j)
                    log_t[j] = t_sigma[s] * zz - 0.5 * t_sigma[s] * t_sigma[s]
                    log_e[j] = en_sigma[s] * zz - 0.5 * en_sigma[s] * en_sigma[s]
                    file[j] = f
                    group[j] = g - 1
                    service[j] = s
                    pool[j] = pool_of_service[s]
                    lang_out[j] = li
                    content_out[j] = ci
                    time_s[j] = mt  # not negative: every cost and unit is >= 0 (schema)
                    energy_j[j] = me
                    audio_s[j] = audio
                    if details:
                        target[j] = e_target[e]
                        tokens_in[j] = t_in
                        tokens_out[j] = t_out
                    j += 1
                e = ix(e + 1)
            if any_target:
                ran |= 1 << s
    group_first[g] = j
    return (file, group, service, pool, lang_out, content_out, target, time_s, energy_j, log_t, log_e, audio_s, tokens_in,
            tokens_out, group_first, group_next, group_file, j, g)
