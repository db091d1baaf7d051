"""The plan of the jobs: the scenario's pipelines flattened, once per run, for the compiled
expansion (``sim.forecast.jobs``), and the columns of the per-file draw matrix.

An *entry* is one (stage, target) of one (language, content type); a *slot* is one
(service, target, output-token spec), whose per-job draws have columns of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from sim.config.columns import Columns, prepare_columns
from sim.config.distributions import Normal, Uniform, mean_of
from sim.config.memo import keep_last
from sim.config.resolve import Resolved, service_model
from sim.config.scenario import CONTENT_TYPES, stage_requires

# Task codes and unit order shared with the compiled expansion (numba reads the codes as constants).
TRANSCRIBE, TRANSLATE, GENERATE = 0, 1, 2
TASKS = {"transcribe": TRANSCRIBE, "translate": TRANSLATE, "generate": GENERATE}
UNITS = ("audio_second", "audio_window", "input_token", "output_token", "input_char", "request")


class Entries(NamedTuple):
    """The plan's entries (see ``Plan``), one array element per entry."""

    entry_range: np.ndarray  # (languages, content types + 1): entries of (l, c) are [range[l, c], range[l, c+1])
    stage: np.ndarray
    service: np.ndarray
    probability: np.ndarray
    task: np.ndarray  # task code (TRANSCRIBE, TRANSLATE, GENERATE)
    length_ratio: np.ndarray
    enabled: np.ndarray  # the service runs for this language
    requires: np.ndarray  # bit mask of services that must have run for the file
    target: np.ndarray  # target language index, -1 when none
    target_start: np.ndarray  # first month the target language is offered
    slot: np.ndarray


@dataclass
class Plan:
    """The pipelines flattened for the compiled expansion.

    An *entry* is one (stage, target) of one (language, content type); entries of a
    (language, content) pair are contiguous, in stage then target-index order, so walking
    them emits a file's jobs already sorted by (stage, target). Per-job draws live in
    *slots*, one per (service, target, output-token spec): a slot has its columns in the
    draw matrix (``_columns``), which hold, in each file's row, the draws of that file's
    language's streams.
    """

    entries: Entries
    slots: list[tuple[str, str, object]]  # (service, target or "-", output-token spec)
    offsets: np.ndarray  # where each quantity's columns start in the draw matrix (``_columns``)
    columns: list[Columns] = field(default_factory=list)  # per language index: its draws (``_columns``)


@keep_last
def plan_of(res: Resolved, languages: tuple[str, ...]) -> Plan:
    """The plan of ``res``'s scenario; the replications of a run share one."""
    return build_plan(res, languages)


def build_plan(res: Resolved, languages: tuple[str, ...]) -> Plan:
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
                    cols["task"].append(TASKS[svc.task])
                    cols["length_ratio"].append(_length_ratio(res, st.length_ratio, code, tgt) if svc.task == "translate" else 1.0)
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
    plan = Plan(entries=Entries(entry_range=entry_range, **arrays), slots=slots, offsets=offsets)
    plan.columns = [prepare_columns(_columns(res, plan, li, code)) for li, code in enumerate(languages)]
    return plan


def _length_ratio(res: Resolved, explicit: float | None, source: str, target: str | None) -> float:
    """Characters of translation per character of source: the stage's own figure, else the
    mean of the calibration's ratio for the pair, else 1.0 (``validate`` warns of missing pairs)."""
    if explicit is not None:
        return explicit
    lengths = res.profile.translation_length
    ratio = lengths.ratios.get(f"{source}>{target}") if lengths is not None else None
    return 1.0 if ratio is None else mean_of(ratio)


# Columns of a file's row in the draw matrix, per service then per slot (see ``_columns``).
PASS, CPT_IN, RESIDUAL, CPT_OUT, TOKENS = range(5)
_UNIFORM01 = Uniform(dist="uniform", low=0.0, high=1.0)
_STANDARD_NORMAL = Normal(dist="normal", mean=0.0, sd=1.0)


def _targets(stage_targets, code: str, res: Resolved) -> list[str]:
    """A translate stage's target languages for a file in ``code``, in the scenario's language order."""
    langs = list(res.scenario.workload.languages)
    if stage_targets is None:
        return []
    if stage_targets == "others":
        return [t for t in langs if t != code]
    # jobs are ordered by target index: list the targets in that order
    return sorted((t for t in stage_targets if t != code and t in langs), key=langs.index)


def _columns(res: Resolved, plan: Plan, li: int, code: str) -> list[tuple[int, object, tuple]]:
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
        columns.append((offsets[PASS] + si, _UNIFORM01 if service in thinned else 0.0, ("stage", code, service, "pass")))
        # only translation and generation read the file's text: transcription's input is audio
        if service in staged and svc.task != "transcribe":
            cpt = _cpt(service_model(res, service)[1].chars_per_token.get(code))
            columns.append((offsets[CPT_IN] + si, cpt, ("job", code, service, "input")))
    entries = plan.entries
    used = set(entries.slot[entries.entry_range[li, 0] : entries.entry_range[li, -1]].tolist())
    for k, (service, tgt, spec) in enumerate(plan.slots):
        if k not in used:  # not a target of this language's files
            continue
        svc = sc.services[service]
        name = ("job", code, service, tgt)
        columns.append((offsets[RESIDUAL] + k, _STANDARD_NORMAL, name))
        if svc.task != "generate":  # generation's output is drawn in tokens, not read off a text
            cpt = _cpt(service_model(res, service)[1].chars_per_token.get(code if tgt == "-" else tgt))
            columns.append((offsets[CPT_OUT] + k, cpt, (*name, "chars_per_token")))
        elif spec is not None:
            columns.append((offsets[TOKENS] + k, spec, (*name, "output_tokens")))
        else:
            columns.append((offsets[TOKENS] + k, 0.0, (*name, "output_tokens")))
    return columns


def _cpt(spec):
    """Characters per token of a text (aleatory): the model's distribution for the language,
    4.0 where it has none (a model priced in tokens has one for every language: resolve)."""
    return 4.0 if spec is None else spec
