"""Jobs: what each file asks of each service, with its sampled time and energy.

A file passes the stages of its content type's pipeline in order; a stage may fan out
(translation into several languages), so a stage of a file is a *group* of jobs that run in
parallel, and the next group is released when the whole group has finished.

Per-job randomness comes from streams keyed by language, service, target and quantity, drawn
for every file of the language whatever the options, so an option changes only the jobs it
touches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.config.distributions import (
    Columns,
    Normal,
    Uniform,
    draw_columns,
    prepare_columns,
)
from sim.config.memo import keep_last
from sim.config.profile import WINDOW_S
from sim.config.resolve import Resolved, service_model
from sim.config.scenario import CONTENT_TYPES, stage_requires
from sim.engine.types import JobTable
from sim.kernels.compiled import njit
from sim.kernels.indices import ix
from sim.kernels.rng import Streams

from .epistemic import Draws
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


def _targets(stage_targets, code: str, res: Resolved) -> list[str]:
    """A translate stage's target languages for a file in ``code``, in the scenario's language order."""
    langs = list(res.scenario.workload.languages)
    if stage_targets is None:
        return []
    if stage_targets == "others":
        return [t for t in langs if t != code]
    # jobs are ordered by target index: list the targets in that order
    return sorted((t for t in stage_targets if t != code and t in langs), key=langs.index)


# Task codes and unit order shared with the compiled expansion.
_TRANSCRIBE, _TRANSLATE, _GENERATE = 0, 1, 2
_TASKS = {"transcribe": _TRANSCRIBE, "translate": _TRANSLATE, "generate": _GENERATE}
_UNITS = ("audio_second", "audio_window", "input_token", "output_token", "input_char", "request")


@dataclass
class _Plan:
    """The pipelines flattened for the compiled expansion.

    An *entry* is one (stage, target) of one (language, content type); entries of a
    (language, content) pair are contiguous, in stage then target-index order, so walking
    them emits a file's jobs already sorted by (stage, target). Per-job draws live in
    *slots*, one per (service, target, output-token spec): a slot has its columns in the
    draw matrix (``_columns``), which hold, in each file's row, the draws of that file's
    language's streams.
    """

    entry_range: np.ndarray  # (languages, content types + 1): entries of (l, c) are [range[l, c], range[l, c+1])
    stage: np.ndarray
    service: np.ndarray
    probability: np.ndarray
    task: np.ndarray
    length_ratio: np.ndarray
    enabled: np.ndarray  # the service runs for this language
    requires: np.ndarray  # bit mask of services that must have run for the file
    target: np.ndarray  # target language index, -1 when none
    target_start: np.ndarray  # first month the target language is offered
    slot: np.ndarray
    slots: list[tuple[str, str, object]]  # (service, target or "-", output-token spec)
    offsets: np.ndarray  # where each quantity's columns start in the draw matrix (``_columns``)
    columns: list[Columns] = field(default_factory=list)  # per language index: its draws (``_columns``)


@keep_last
def _plan(res: Resolved, languages: tuple[str, ...]) -> _Plan:
    """The plan of ``res``'s scenario; the replications of a run share one."""
    return _build_plan(res, languages)


def _build_plan(res: Resolved, languages: tuple[str, ...]) -> _Plan:
    sc = res.scenario
    services = list(sc.services)
    n_l, n_c = len(languages), len(CONTENT_TYPES)
    cols: dict[str, list] = {k: [] for k in (
        "stage", "service", "probability", "task", "length_ratio", "enabled", "requires", "target", "target_start", "slot")}
    slots: list[tuple[str, str, object]] = []
    entry_range = np.zeros((n_l, n_c + 1), dtype=np.int64)
    count = 0
    for li, code in enumerate(languages):
        for ci, ctype in enumerate(CONTENT_TYPES):
            entry_range[li, ci] = count
            stages = sc.pipelines.get(ctype, [])
            for k, st in enumerate(stages):
                svc = sc.services[st.service]
                required = stage_requires(stages, k, sc.services)
                mask = sum(1 << services.index(r) for r in set(required) if r in services)
                if any(r not in services for r in required):
                    mask = -1  # a requirement no service provides: never met
                targets = _targets(st.targets, code, res) if svc.task == "translate" else [None]
                for tgt in targets:
                    key = (st.service, tgt or "-", st.output_tokens)
                    if key not in slots:
                        slots.append(key)
                    cols["stage"].append(k)
                    cols["service"].append(services.index(st.service))
                    cols["probability"].append(st.probability)
                    cols["task"].append(_TASKS[svc.task])
                    cols["length_ratio"].append(st.length_ratio if svc.task == "translate" else 1.0)  # (read by translation only)
                    cols["enabled"].append(svc.enabled and code not in svc.disabled_languages)
                    cols["requires"].append(mask)
                    cols["target"].append(-1 if tgt is None else languages.index(tgt))
                    cols["target_start"].append(0 if tgt is None else sc.workload.languages[tgt].start_month)
                    cols["slot"].append(slots.index(key))
                    count += 1
        entry_range[li, n_c] = count
    types = {"probability": float, "length_ratio": float, "enabled": np.bool_}
    arrays = {k: np.asarray(v, dtype=types.get(k, np.int64)) for k, v in cols.items()}
    n_services, n_slots = len(services), len(slots)
    offsets = np.array([0, n_services, 2 * n_services, 2 * n_services + n_slots, 2 * n_services + 2 * n_slots])
    plan = _Plan(entry_range=entry_range, slots=slots, offsets=offsets, **arrays)
    plan.columns = [prepare_columns(_columns(res, plan, li, code)) for li, code in enumerate(languages)]
    return plan


def _cost_arrays(res: Resolved, draws: Draws, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per service: the drawn affine cost's intercept, coefficients (in ``_UNITS`` order) and residual sigma."""
    sc = res.scenario
    n = len(sc.services)
    intercept, coef, sigma = np.zeros(n), np.zeros((n, len(_UNITS))), np.zeros(n)
    for si, name in enumerate(sc.services):
        cost = getattr(draws.models[service_model(res, name)[0]], which)
        intercept[si] = cost.intercept
        for unit, c in cost.coef.items():
            coef[si, _UNITS.index(unit)] = c
        sigma[si] = cost.sigma
    return intercept, coef, sigma


# Columns of a file's row in the draw matrix, per service then per slot (see ``_columns``).
_PASS, _CPT_IN, _RESIDUAL, _CPT_OUT, _TOKENS = range(5)
_UNIFORM01 = Uniform(dist="uniform", low=0.0, high=1.0)
_STANDARD_NORMAL = Normal(dist="normal", mean=0.0, sd=1.0)


def build_jobs(
    res: Resolved, files: FileTable, served: np.ndarray, draws: Draws, streams: Streams, details: bool = True,
) -> JobTable:
    """Expand the ``served`` files (see ``file_mask``) into jobs through the pipelines;
    sample each job's time and energy (and, with ``details``, its target and tokens).

    Every stream is drawn in full for its language whatever the options and masks: the
    i-th draw of a language's stream goes to its i-th file in table order, so an option
    changes only the jobs it touches. The draws go to one matrix, a row per file (the
    languages' blocks one after the other, language ``l``'s from row ``lang_start[l]``) and a
    column per stream (``_columns``), written row by row in compiled code; a compiled pass
    then walks the files once and emits the jobs sorted by (file, stage, target).
    """
    sc = res.scenario
    services = tuple(sc.services)
    pools = tuple(sc.pools)
    langs = files.languages
    plan = _plan(res, langs)
    n_files, n_services, n_slots = len(files), len(services), len(plan.slots)
    lang_start = np.concatenate([[0], np.cumsum(np.bincount(files.language, minlength=len(langs)))])
    table = np.empty((n_files, 2 * n_services + 3 * n_slots))
    for li in range(len(langs)):
        if lang_start[li + 1] > lang_start[li]:
            draw_columns(table, slice(lang_start[li], lang_start[li + 1]), plan.columns[li], streams)
    t_int, t_coef, t_sigma = _cost_arrays(res, draws, "time_s")
    e_int, e_coef, e_sigma = _cost_arrays(res, draws, "energy_j")
    # at most the most jobs a file can have, per served file (the arrays' unused tails are never touched)
    capacity = int(np.count_nonzero(served)) * int(np.diff(plan.entry_range, axis=1).max(initial=0))
    pool_of_service = np.array([pools.index(sc.services[s].pool) for s in services], dtype=np.int16)
    out = _expand(
        files.language, files.content, files.month, files.duration_s, files.text_chars, served, lang_start,
        table, plan.offsets, pool_of_service,
        plan.entry_range, plan.stage, plan.service, plan.probability, plan.task, plan.length_ratio, plan.enabled,
        plan.requires, plan.target, plan.target_start, plan.slot, t_int, t_coef, t_sigma, e_int, e_coef, e_sigma, capacity,
        details,
    )
    (file, group, service, pool, language, content, target, time_s, energy_j, log_t, log_e, audio_s, tokens_in,
     tokens_out, group_first, group_next, group_file, n_jobs, n_groups) = out
    time_s, energy_j = time_s[:n_jobs], energy_j[:n_jobs]
    time_s *= np.exp(log_t[:n_jobs], out=log_t[:n_jobs])  # the residuals; exp(0) = 1 where sigma is 0
    energy_j *= np.exp(log_e[:n_jobs], out=log_e[:n_jobs])
    del log_t, log_e
    return JobTable(
        file=file[:n_jobs], group=group[:n_jobs], service=service[:n_jobs], pool=pool[:n_jobs],
        language=language[:n_jobs], content=content[:n_jobs], target=target[:n_jobs] if details else None,
        time_s=time_s, energy_j=energy_j, audio_s=audio_s[:n_jobs],
        tokens_in=tokens_in[:n_jobs] if details else None, tokens_out=tokens_out[:n_jobs] if details else None,
        group_first_job=group_first[: n_groups + 1], group_next=group_next[:n_groups], group_file=group_file[:n_groups],
        services=services, pools=pools,
    )


def _columns(res: Resolved, plan: _Plan, li: int, code: str) -> list[tuple[int, object, tuple]]:
    """The draw matrix's columns for the files of language ``code``: (column, what is drawn,
    stream name), as ``draw_columns`` takes them; columns ``_expand`` never reads for these
    files are left out (their cells stay unset).

    Per service: the pass draw (uniform where a stage lets only a share of files through;
    else 0, which passes every stage), and the characters per token of the file's text for
    the services that read it. Per slot the language's files use: the standard normal of
    the job's lognormal residuals, and the characters per token of its output text or, for
    generation, its drawn output tokens. Each drawn value has a stream of its own, keyed by
    name, so what one column draws never shifts another.
    """
    sc = res.scenario
    services = list(sc.services)
    stages = [st for pipeline in sc.pipelines.values() for st in pipeline]
    thinned = {st.service for st in stages if st.probability < 1}
    staged = {st.service for st in stages}
    offsets = plan.offsets
    columns: list[tuple[int, object, tuple]] = []
    for si, service in enumerate(services):
        svc = sc.services[service]
        columns.append((offsets[_PASS] + si, _UNIFORM01 if service in thinned else 0.0, ("stage", code, service, "pass")))
        # only translation and generation read the file's text: transcription's input is audio
        if service in staged and svc.task != "transcribe":
            cpt = _cpt(service_model(res, service)[1].chars_per_token.get(code))
            columns.append((offsets[_CPT_IN] + si, cpt, ("job", code, service, "input")))
    used = set(plan.slot[plan.entry_range[li, 0] : plan.entry_range[li, -1]].tolist())
    for k, (service, tgt, spec) in enumerate(plan.slots):
        if k not in used:  # not a target of this language's files
            continue
        svc = sc.services[service]
        name = ("job", code, service, tgt)
        columns.append((offsets[_RESIDUAL] + k, _STANDARD_NORMAL, name))
        if svc.task != "generate":  # generation's output is drawn in tokens, not read off a text
            cpt = _cpt(service_model(res, service)[1].chars_per_token.get(code if tgt == "-" else tgt))
            columns.append((offsets[_CPT_OUT] + k, cpt, (*name, "chars_per_token")))
        elif spec is not None:
            columns.append((offsets[_TOKENS] + k, spec, (*name, "output_tokens")))
        else:
            columns.append((offsets[_TOKENS] + k, 0.0, (*name, "output_tokens")))
    return columns


def _cpt(spec):
    """Characters per token of a text (aleatory): the model's distribution for the language,
    4.0 where it has none. ``_expand`` floors drawn values at 0.1."""
    return 4.0 if spec is None else spec


@njit(cache=True, error_model="numpy")  # no zero-division checks in the loop
def _expand(
    language, content, month, duration, chars, served, lang_start,
    table, offsets, pool_of_service,
    entry_range, e_stage, e_service, e_probability, e_task, e_ratio, e_enabled, e_requires, e_target, e_target_start,
    e_slot, t_intercept, t_coef, t_sigma, en_intercept, en_coef, en_sigma, capacity, details,
):
    """Walk the files in order and emit their jobs, sorted by (file, stage, target).

    ``table`` holds the files' draws, a row per file (language blocks from ``lang_start``)
    and the columns of each quantity from ``offsets`` (pass, input and output characters
    per token, residual, output tokens: see ``_columns``). A stage of a file runs when its service is enabled for the language, the file's pass
    draw is below the stage's probability, and the services it requires ran for the file;
    each target then gets a job from the month its language is offered. A stage's jobs
    form one group. Time (s) and energy (J) come out as the drawn affine means of the job's
    units, with the logs of their mean-one lognormal residuals (one ``z`` shared by both):
    the caller applies them, since a vectorised ``exp`` is several times cheaper than one
    call per job. Indices go through ``ix`` (known >= 0: no wrap-around check).
    """
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
            if task == 0:  # transcribe: audio in, the transcript's tokens out
                audio = duration[f]
                window = max(1.0, np.ceil(audio / WINDOW_S)) if active else 0.0
                t_in = c_in = 0.0
            else:  # translate or generate: the text in
                audio = window = 0.0
                t_in = c / max(table[p, ix(c_cpt_in + s)], 0.1) if active else 0.0
                c_in = c
            # affine means, units in ``_UNITS`` order (the last, request, is 1), up to the
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
                    if task == 2:  # generate: drawn tokens out
                        t_out = max(table[p, ix(c_tokens + slot)], 0.0)
                    else:  # the transcript, or the translation (length ratio 1 for transcription)
                        t_out = c * e_ratio[e] / max(table[p, ix(c_cpt_out + slot)], 0.1)
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
                    time_s[j] = max(mt, 0.0)
                    energy_j[j] = max(me, 0.0)
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
