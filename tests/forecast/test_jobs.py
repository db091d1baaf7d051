"""Jobs: work units follow the files and the profile's token ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.config.resolve import load_and_check
from sim.forecast.replication import sample_inputs
from tests.helpers import scenario_dict


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    import yaml

    data = scenario_dict("default")
    data["horizon_months"] = 14
    for stages in data["pipelines"].values():  # translations as long as their source: token ratios alone
        for st in stages:
            if st["service"] == "translation":
                st["length_ratio"] = 1.0
    path = tmp_path_factory.mktemp("jobs") / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    res = load_and_check(path)
    return res, sample_inputs(res, 0)


def _table(inp) -> pd.DataFrame:
    j = inp.jobs
    return pd.DataFrame({"file": j.file, "service": np.asarray(j.services)[j.service], "target": j.target,
                         "tokens_in": j.tokens_in, "tokens_out": j.tokens_out, "audio_s": j.audio_s})


def test_fan_out_targets_read_the_same_text(inputs):
    _, inp = inputs
    tr = _table(inp).query("service == 'translation'")
    spread = tr.groupby("file").tokens_in.agg(lambda x: x.max() - x.min())
    assert (tr.groupby("file").size() > 1).any()
    assert (spread == 0).all()


def test_output_tokens_follow_the_target_languages_ratio(inputs):
    res, inp = inputs
    langs = inp.files.languages
    tr = _table(inp).query("service == 'translation'")
    per_target = tr.groupby("target").tokens_out.mean()
    cpt = res.profile.models["nllb-200-1.3b"].chars_per_token
    # files translated into both Arabic and English: the same texts, so the token ratio is the chars/token ratio
    ar, en = langs.index("ar"), langs.index("en")
    both = tr[tr.target.isin([ar, en])].groupby("file").target.nunique()
    sel = tr[tr.file.isin(both[both == 2].index)]
    ratio = sel[sel.target == ar].tokens_out.mean() / sel[sel.target == en].tokens_out.mean()
    assert ratio == pytest.approx(cpt["en"].mean() / cpt["ar"].mean(), rel=0.02)
    assert len(per_target) == len(langs)


def test_transcription_is_priced_per_audio_second_of_media_only(inputs):
    _, inp = inputs
    t = _table(inp)
    media = inp.files.content[t.file.to_numpy()] != 2
    assert (t.audio_s[t.service == "transcription"] > 0).all()
    assert (t.service[~media] != "transcription").all()
    assert np.allclose(t.audio_s[t.service == "transcription"], inp.files.duration_s[t.file[t.service == "transcription"]])


def test_files_expand_into_their_pipelines_jobs_in_order(inputs):
    """Every served file gets its pipeline's jobs: transcription for media, one translation
    per other language on offer that month, generation for about half; sorted by
    (file, stage, target), one group per stage, groups chained per file."""
    res, inp = inputs
    sc, f, j = res.scenario, inp.files, inp.jobs
    langs = list(sc.workload.languages)
    starts = np.array([sc.workload.languages[c].start_month for c in langs])
    svc = np.asarray(j.services)[j.service]
    assert np.all(np.diff(j.file) >= 0) and np.all(np.diff(j.group) >= 0)
    same_group = np.diff(j.group) == 0
    assert np.all(np.diff(j.target)[same_group] > 0)  # targets in order inside a group
    per_file = pd.Series(svc == "translation").groupby(j.file).sum()
    offered = np.array([((starts <= f.month[i]) & (np.arange(len(langs)) != f.language[i])).sum() for i in per_file.index])
    assert np.array_equal(per_file.to_numpy(), offered)
    media = np.isin(f.content, [0, 1])
    transcribed = np.zeros(len(f), bool)
    transcribed[j.file[svc == "transcription"]] = True
    assert np.array_equal(transcribed, media)
    generated = np.zeros(len(f), bool)
    generated[j.file[svc == "generation"]] = True
    assert generated.mean() == pytest.approx(0.5, abs=0.03)
    # groups: the first job of each, the file of each, and each file's chain of stages
    first = j.group_first_job
    assert np.array_equal(j.group[first[:-1]], np.arange(len(first) - 1)) and first[-1] == len(j)
    assert np.array_equal(j.group_file, j.file[first[:-1]])
    chained = j.group_next[j.group_next >= 0]
    assert np.array_equal(j.group_file[chained], j.group_file[np.flatnonzero(j.group_next >= 0)])


def test_jobs_without_details_are_the_same_jobs(inputs):
    """What the Monte Carlo samples (no targets or tokens) is job for job what the full table holds."""
    res, inp = inputs
    lean = sample_inputs(res, 0, details=False).jobs
    assert lean.target is None and lean.tokens_in is None and lean.tokens_out is None
    for name in ("file", "group", "service", "pool", "language", "content", "time_s", "energy_j", "audio_s",
                 "group_first_job", "group_next", "group_file"):
        assert np.array_equal(getattr(lean, name), getattr(inp.jobs, name)), name


def test_translation_length_follows_the_language_pair_unless_the_stage_sets_it(tmp_path):
    import yaml

    from sim.config.distributions import mean_of
    from sim.forecast.plan import plan_of as _plan

    data = scenario_dict("default")
    data["horizon_months"] = 14
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    res = load_and_check(path)
    inp = sample_inputs(res, 0)
    langs = inp.files.languages
    plan = _plan(res, langs).entries
    ratios = res.profile.translation_length.ratios
    translate = plan.task == 1
    for e in np.flatnonzero(translate):
        src = langs[int(np.searchsorted(plan.entry_range[:, 0], e, side="right") - 1)]
        assert plan.length_ratio[e] == mean_of(ratios[f"{src}>{langs[plan.target[e]]}"])
    # out of French into English: fewer characters (0.84), so output tokens follow that ratio
    cpt = res.profile.models["nllb-200-1.3b"].chars_per_token
    t = _table(inp).query("service == 'translation'")
    fr_en = t[(inp.files.language[t.file.to_numpy()] == langs.index("fr")) & (t.target == langs.index("en"))]
    expected = mean_of(ratios["fr>en"]) * cpt["fr"].mean() / cpt["en"].mean()
    assert (fr_en.tokens_out / fr_en.tokens_in).mean() == pytest.approx(expected, rel=0.03)
    # an explicit stage figure overrides the pair's
    data["pipelines"]["text"][0]["length_ratio"] = 2.0
    path.write_text(yaml.safe_dump(data))
    res2 = load_and_check(path)
    plan2 = _plan(res2, langs).entries
    text_entries = [e for li in range(len(langs)) for e in range(plan2.entry_range[li, 2], plan2.entry_range[li, 3])]
    assert {plan2.length_ratio[e] for e in text_entries if plan2.task[e] == 1} == {2.0}
