"""Jobs: what each file asks of each service, with its sampled time and energy.

A file passes the stages of its content type's pipeline in order; a stage may fan out
(translation into several languages), so a stage of a file is a *group* of jobs that run in
parallel, and the next group is released when the whole group has finished.

Per-job randomness comes from streams keyed by (language, service, target), drawn for every
file of the language whatever the options, so an option changes only the jobs it touches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .distributions import draw
from .epistemic import Draws
from .resolve import Resolved
from .rng import Streams
from .scenario import CONTENT_TYPES, stage_requires
from .workload import FileTable

WINDOW_S = 30.0  # Whisper's encoder always runs on 30-second windows


@dataclass
class JobTable:
    """Jobs sorted by (file, stage, target); groups are a file's stage, in order."""

    file: np.ndarray
    group: np.ndarray
    service: np.ndarray  # index into ``services``
    pool: np.ndarray  # index into ``pools``
    language: np.ndarray  # source language index
    content: np.ndarray
    target: np.ndarray  # target language index, -1 when none
    time_s: np.ndarray  # service time before any cold load (s)
    energy_j: np.ndarray  # energy above idle before any cold load (J)
    audio_s: np.ndarray
    tokens_in: np.ndarray
    tokens_out: np.ndarray
    group_first_job: np.ndarray  # index of the first job of each group, plus a sentinel
    group_next: np.ndarray  # next group of the same file, -1 at the end
    group_file: np.ndarray
    services: tuple[str, ...]
    pools: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.file)


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
    langs = res.scenario.workload.languages
    if stage_targets is None:
        return []
    if stage_targets == "others":
        return [t for t in langs if t != code]
    return [t for t in stage_targets if t != code]


def build_jobs(res: Resolved, files: FileTable, draws: Draws, streams: Streams) -> JobTable:
    """Expand files into jobs through the pipelines; sample each job's time and energy."""
    sc = res.scenario
    services = tuple(sc.services)
    pools = tuple(sc.pools)
    langs = files.languages
    starts = {c: sc.workload.languages[c].start_month for c in langs}
    served = file_mask(res, files)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in (
        "file", "stage", "service", "language", "content", "target",
        "time_s", "energy_j", "audio_s", "tokens_in", "tokens_out")}

    for li, code in enumerate(langs):
        in_lang = np.flatnonzero(files.language == li)  # positions of this language's files
        n = len(in_lang)
        if n == 0:
            continue
        # A stream gives the same numbers wherever it is opened: draw each once per language
        # and reuse it across content types (the draws cover every file of the language).
        pass_draws: dict[str, np.ndarray] = {}
        job_draws: dict[tuple[str, str | None], tuple] = {}
        in_cpt: dict[str, np.ndarray] = {}

        def input_cpt(service: str, model) -> np.ndarray:
            """Characters per token of each file's own text for a service's tokenizer: one
            draw per file, shared by every fan-out target (they all read the same text)."""
            if service not in in_cpt:
                in_cpt[service] = _cpt(model.chars_per_token.get(code), streams.rng("job", code, service, "input"), n)
            return in_cpt[service]

        month = files.month[in_lang]
        content = files.content[in_lang]
        duration = files.duration_s[in_lang]
        chars = files.text_chars[in_lang]
        for ci, ctype in enumerate(CONTENT_TYPES):
            stages = sc.pipelines.get(ctype, [])
            sel = (content == ci) & served[in_lang]
            ran: dict[str, np.ndarray] = {}
            for k, st in enumerate(stages):
                svc = sc.services[st.service]
                model = res.profile.models[svc.model]
                mdraw = draws.models[svc.model]
                if st.service not in pass_draws:
                    pass_draws[st.service] = streams.rng("stage", code, st.service, "pass").random(n)
                u_pass = pass_draws[st.service]
                active = sel & (u_pass < st.probability)
                if not svc.enabled or code in svc.disabled_languages:
                    active[:] = False
                for req in stage_requires(stages, k, sc.services):
                    active &= ran.get(req, np.zeros(n, dtype=bool))
                targets = _targets(st.targets, code, res) if svc.task == "translate" else [None]
                any_target = np.zeros(n, dtype=bool)
                for tgt in targets:
                    mask = active & (month >= starts[tgt]) if tgt is not None else active.copy()
                    cached = job_draws.get((st.service, tgt))
                    if cached is not None and cached[0] == st.output_tokens:
                        z, cpt_in, cpt_out, out_draw = cached[1:]
                    else:
                        rng = streams.rng("job", code, st.service, tgt or "-")
                        z = rng.standard_normal(n)
                        cpt_in = input_cpt(st.service, model)
                        cpt_out = _cpt(model.chars_per_token.get(tgt or code), rng, n)
                        out_draw = np.asarray(draw(st.output_tokens, rng, n), dtype=float) if st.output_tokens is not None else None
                        job_draws[(st.service, tgt)] = (st.output_tokens, z, cpt_in, cpt_out, out_draw)
                    if not mask.any():
                        continue
                    any_target |= mask
                    idx = np.flatnonzero(mask)
                    units = _units(svc.task, duration[idx], chars[idx], cpt_in[idx], cpt_out[idx],
                                   None if out_draw is None else out_draw[idx], st.length_ratio)
                    zt = z[idx]
                    cols["file"].append(in_lang[idx])
                    cols["stage"].append(np.full(len(idx), k))
                    cols["service"].append(np.full(len(idx), services.index(st.service)))
                    cols["language"].append(np.full(len(idx), li))
                    cols["content"].append(np.full(len(idx), ci))
                    cols["target"].append(np.full(len(idx), -1 if tgt is None else langs.index(tgt)))
                    cols["time_s"].append(_residual(mdraw.time_s.mean(units), mdraw.time_s.sigma, zt))
                    cols["energy_j"].append(_residual(mdraw.energy_j.mean(units), mdraw.energy_j.sigma, zt))
                    cols["audio_s"].append(units["audio_second"])
                    cols["tokens_in"].append(units["input_token"])
                    cols["tokens_out"].append(units["output_token"])
                ran[st.service] = any_target
    return _assemble(cols, services, pools, [sc.services[s].pool for s in services])


def _cpt(spec, rng: np.random.Generator, n: int) -> np.ndarray:
    """Characters per token per text (aleatory); 4.0 stands in where a model has none."""
    if spec is None:
        rng.random(n)  # keep the stream aligned whether or not the model has ratios
        return np.full(n, 4.0)
    return np.maximum(np.asarray(draw(spec, rng, n), dtype=float), 0.1)


def _units(task, duration, chars, cpt_in, cpt_out, out_tokens, length_ratio) -> dict[str, np.ndarray]:
    """Work units of each job, by the profile's unit names."""
    n = len(duration)
    zeros = np.zeros(n)
    if task == "transcribe":
        return dict(audio_second=duration, audio_window=np.maximum(1.0, np.ceil(duration / WINDOW_S)),
                    input_token=zeros, output_token=chars / cpt_out, input_char=zeros, request=np.ones(n))
    if task == "translate":
        return dict(audio_second=zeros, audio_window=zeros, input_token=chars / cpt_in,
                    output_token=chars * length_ratio / cpt_out, input_char=chars, request=np.ones(n))
    return dict(audio_second=zeros, audio_window=zeros, input_token=chars / cpt_in,
                output_token=np.maximum(out_tokens, 0.0), input_char=chars, request=np.ones(n))


def _residual(mean: np.ndarray, sigma: float, z: np.ndarray) -> np.ndarray:
    """Mean-one lognormal residual shared by time and energy through ``z``."""
    if sigma == 0:
        return np.maximum(mean, 0.0)
    return np.maximum(mean, 0.0) * np.exp(sigma * z - 0.5 * sigma * sigma)


def _assemble(cols, services, pools, service_pool_names) -> JobTable:
    # Indices into short lists (services, languages, content types) fit in int16: a run
    # may hold millions of jobs, and these columns live as long as the replication.
    int_cols = {"file": np.int64, "stage": np.int64, "service": np.int16, "language": np.int16,
                "content": np.int16, "target": np.int16}

    def take(k: str) -> np.ndarray:
        """One column, concatenated; its parts are released at once."""
        parts, cols[k] = cols[k], []
        arr = np.concatenate(parts) if parts else np.zeros(0)
        del parts
        return arr.astype(int_cols[k], copy=False) if k in int_cols else arr

    # Sort by (file, stage, target): one integer key, unique per job, sorted stably. The
    # jobs arrive as runs already sorted by file, which the stable sort (timsort) exploits.
    file, stage, target = take("file"), take("stage"), take("target")
    n_t = int(target.max()) + 2 if len(target) else 1
    n_k = int(stage.max()) + 1 if len(stage) else 1
    order = np.argsort((file * n_k + stage) * n_t + (target + 1), kind="stable")
    cat = {"file": file[order], "stage": stage[order], "target": target[order]}
    del file, stage, target
    for k in list(cols):
        if k not in cat:
            cat[k] = take(k)[order]
    n = len(cat["file"])
    new_group = np.ones(n, dtype=bool)
    if n:
        new_group[1:] = (cat["file"][1:] != cat["file"][:-1]) | (cat["stage"][1:] != cat["stage"][:-1])
    group = np.cumsum(new_group) - 1
    first = np.flatnonzero(new_group)
    n_groups = len(first)
    group_file = cat["file"][first] if n else np.zeros(0, np.int64)
    group_next = np.full(n_groups, -1, dtype=np.int64)
    if n_groups > 1:
        same = group_file[1:] == group_file[:-1]
        group_next[:-1][same] = np.arange(1, n_groups)[same]
    pool_of_service = np.array([pools.index(p) for p in service_pool_names], dtype=np.int16)
    return JobTable(
        file=cat["file"], group=group, service=cat["service"], pool=pool_of_service[cat["service"]],
        language=cat["language"], content=cat["content"], target=cat["target"],
        time_s=cat["time_s"], energy_j=cat["energy_j"], audio_s=cat["audio_s"],
        tokens_in=cat["tokens_in"], tokens_out=cat["tokens_out"],
        group_first_job=np.append(first, n), group_next=group_next, group_file=group_file,
        services=services, pools=pools,
    )
