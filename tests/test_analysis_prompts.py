"""compare_prompts offline against the emulator's chat endpoint (the real `openai` client); its helpers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from interview_kit.analysis import (
    TranscriptError,
    agreement,
    compare_prompts,
    compare_prompts_async,
    load_transcripts,
    plot_prompt_scores,
    prompt_agreement,
    repeat_spread,
    stand_in_note,
)
from interview_kit.analysis.prompts import AGREEMENT_COLUMNS, alpha_ci, icc_2_1, krippendorff_alpha
from interview_kit.assessment import OpenAIAssessor
from interview_kit.emulator import Emulator
from interview_kit.scenario import parse_scenario

matplotlib.use("Agg")

pytestmark = pytest.mark.timeout(60)

DATA = Path(__file__).resolve().parents[1] / "data" / "transcripts"
TRANSCRIPTS = {
    "strong": [
        {"role": "interviewer", "text": "Tell me about a project you led."},
        {
            "role": "candidate",
            "text": "I led the rewrite of our data pipeline. For example, I designed the scheduler, "
            "wrote the tests, and as a result the nightly run went from six hours to forty minutes.",
        },
    ],
    "weak": [
        {"role": "interviewer", "text": "Tell me about a project you led."},
        {"role": "candidate", "text": "Um, I guess I helped a bit, not sure."},
    ],
}


def _scenario(**faults):
    raw = {"name": "chat-test", "report_delay": 0.0}
    if faults:
        raw["faults"] = [faults]
    return parse_scenario(raw)


def test_load_transcripts_from_every_shape(tmp_path):
    session = tmp_path / "20261125-100000-abcd"
    session.mkdir()
    (session / "transcript.json").write_text(
        json.dumps(
            {
                "turns": [
                    {"role": "interviewer", "text": "Hi", "start": 0.1, "end": 0.5, "response_id": "r1"},
                    {"role": "candidate", "text": "Hello", "start": 1.0, "end": 1.4},
                ]
            }
        )
    )
    (session / "session.json").write_text(json.dumps({"id": "x"}))
    (session / "report.json").write_text(json.dumps({"scores": {}}))
    (tmp_path / "plain.json").write_text(
        json.dumps([{"role": "assistant", "content": "Q?"}, {"role": "user", "content": "A."}])
    )
    (tmp_path / "other.json").write_text(json.dumps({"not": "a transcript"}))
    found = load_transcripts(tmp_path)
    assert found == {
        "20261125-100000-abcd": [
            {"role": "interviewer", "text": "Hi"},
            {"role": "candidate", "text": "Hello"},
        ],
        "plain": [{"role": "interviewer", "text": "Q?"}, {"role": "candidate", "text": "A."}],
    }
    with pytest.raises(TranscriptError, match=r"other\.json: expected a non-empty list of turns"):
        load_transcripts([tmp_path / "other.json"])
    with pytest.raises(TranscriptError, match="no such file or folder"):
        load_transcripts(tmp_path / "missing")
    with pytest.raises(TranscriptError, match="turn 0 needs a role"):
        load_transcripts({"x": [{"role": "judge", "text": "?"}]})
    shipped = load_transcripts(DATA)
    assert sum(n.startswith("en-") for n in shipped) >= 3 and sum(n.startswith("ko-") for n in shipped) >= 2


async def test_compare_prompts_records_a_failing_prompt_as_rows():
    # The first two chat calls get HTTP 500: with one call at a time in prompt order and no retries,
    # those are exactly the `strict` prompt's calls on the two transcripts; `default` then succeeds.
    async with Emulator(scenario=_scenario(kind="chat_500", count=2)) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key="offline", max_retries=0, timeout=20)
        results = await compare_prompts_async(
            TRANSCRIPTS,
            ["strict", "default"],
            assessor=assessor,
            concurrency=1,
            progress=False,
            call_timeout=30,
        )
    assert list(results.columns[:3]) == ["prompt", "transcript", "repeat"]
    assert {"score_communication", "overall", "summary_words", "latency_s", "tokens", "error"} <= set(
        results.columns
    )
    assert len(results) == 4
    failed = results[results["prompt"] == "strict"]
    assert failed["error"].str.contains("HTTP 500").all() and failed["overall"].isna().all()
    ok = results[results["prompt"] == "default"]
    assert ok["error"].isna().all()
    scores = ok[[c for c in ok.columns if c.startswith("score_")]].dropna(axis=1)
    assert scores.shape[1] >= 3 and scores.isin([1, 2, 3, 4, 5]).all().all()
    assert (ok["tokens"] > 0).all() and (ok["summary_words"] > 0).all() and (results["latency_s"] > 0).all()
    assert ok["overall"].tolist() == pytest.approx(scores.mean(axis=1).round(2).tolist(), abs=0.01)


async def test_every_call_failing_still_returns_rows():
    async with Emulator(scenario=_scenario(kind="chat_500", count=1000)) as emu:
        assessor = OpenAIAssessor(
            base_url=emu.base_url, api_key="offline", max_retries=1, backoff=0.01, timeout=20
        )
        results = await compare_prompts_async(
            TRANSCRIPTS,
            ["default"],
            assessor=assessor,
            repeats=2,
            concurrency=4,
            progress=False,
            call_timeout=30,
        )
    assert len(results) == 4 and results["error"].notna().all()
    assert list(results["repeat"]) == [0, 1, 0, 1]
    assert "2 attempt(s)" in results["error"].iloc[0]  # the assessor retried; compare_prompts did not raise


def test_sync_entry_point_starts_its_own_emulator():
    results = compare_prompts(
        TRANSCRIPTS, ["default", "supportive"], repeats=2, progress=False, scenario=_scenario()
    )
    assert len(results) == 8 and results["error"].isna().all()
    spread = repeat_spread(results)
    assert set(spread["prompt"]) == {"default", "supportive"}
    assert (spread["repeats"] == 2).all() and (spread["failed"] == 0).all()
    # the scores are the emulator's stand-in's: every row, the note, the agreement table and the plot say so
    assert results["stand_in"].all() and results["model"].str.startswith("emulator-standin-").all()
    note = stand_in_note(results)
    assert note.startswith("scored by emulator-standin-") and "not a language model" in note
    table = agreement(results)
    assert table["model"].str.startswith("emulator-standin-").all()
    assert set(table["between"]) == {"prompts", "repeats of default", "repeats of supportive"}
    assert note in plot_prompt_scores(results).get_suptitle()


async def test_sync_entry_point_inside_a_running_loop():
    # a notebook cell: the loop is running, so compare_prompts must not call asyncio.run on it. (It blocks
    # that loop until done, so the server must not live on it: here, as in a notebook, it has its own thread.)
    with Emulator.in_thread(scenario=_scenario()) as emu:
        results = compare_prompts(
            {"only": TRANSCRIPTS["strong"]},
            ["default"],
            base_url=emu.base_url,
            api_key="offline",
            progress=False,
        )
    assert len(results) == 1 and results["error"].isna().all()


def _results(rows):
    return pd.DataFrame(rows, columns=["prompt", "transcript", "repeat", "score_clarity", "overall", "error"])


def test_prompt_agreement_is_spearman_per_criterion():
    rows = []
    for t, (a, b, c) in {"x": (1, 5, 1), "y": (2, 4, 3), "z": (3, 2, 2)}.items():
        rows += [("A", t, 0, a, a, None), ("B", t, 0, b, b, None), ("C", t, 0, c, c, None)]
    rows.append(("C", "w", 0, None, None, "HTTP 500"))  # a failed call is left out
    agreement = prompt_agreement(_results(rows)).set_index(["criterion", "prompt_a", "prompt_b"])
    assert agreement.loc[("clarity", "A", "B"), "rho"] == pytest.approx(-1.0)
    assert agreement.loc[("clarity", "A", "C"), "rho"] == pytest.approx(0.5)  # ranks 1,2,3 vs 1,3,2
    assert agreement.loc[("overall", "B", "C"), "transcripts"] == 3
    constant = _results(
        [
            ("A", "x", 0, 3, 3, None),
            ("A", "y", 0, 3, 3, None),
            ("B", "x", 0, 1, 1, None),
            ("B", "y", 0, 2, 2, None),
        ]
    )
    assert math.isnan(prompt_agreement(constant).iloc[0]["rho"])


def test_repeat_spread():
    rows = [
        ("A", "x", 0, 2, 2, None),
        ("A", "x", 1, 4, 4, None),
        ("A", "y", 0, 3, 3, None),
        ("A", "y", 1, 3, 3, None),
        ("A", "y", 2, None, None, "timeout"),
    ]
    spread = repeat_spread(_results(rows)).set_index("criterion").loc["clarity"]
    assert spread["mean_std"] == pytest.approx(0.5)  # std 1.0 on x, 0 on y
    assert spread["max_range"] == 2 and spread["repeats"] == 2 and spread["failed"] == 1


def test_a_turn_whose_transcription_failed_is_left_out_not_an_error(tmp_path) -> None:
    from interview_kit.analysis.prompts import load_transcripts

    folder = tmp_path / "s1"
    folder.mkdir()
    (folder / "transcript.json").write_text(json.dumps({"turns": [
        {"role": "interviewer", "text": "Why?"},
        {"role": "candidate", "text": None, "transcription_failed": True},
        {"role": "candidate", "text": "Because."},
    ]}))
    texts = load_transcripts(folder / "transcript.json")
    (turns,) = texts.values()
    assert [t["text"] for t in turns] == ["Why?", "Because."]


def test_icc_2_1_matches_shrout_and_fleiss() -> None:
    """Shrout & Fleiss (1979), Table 2: six targets, four judges; ICC(2,1) = .29, 95 % CI .019 to .761."""
    ratings = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    icc, low, high = icc_2_1(ratings)
    assert (round(icc, 2), round(low, 3), round(high, 3)) == (0.29, 0.019, 0.761)
    assert icc_2_1(np.array([[1, 1], [3, 3], [2, 2]])) == (1.0, 1.0, 1.0)  # raters agree exactly
    assert all(math.isnan(v) for v in icc_2_1(np.array([[1, 2]])))  # one unit: undefined


def test_krippendorff_alpha_ordinal_matches_krippendorff_2011() -> None:
    """Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units, ordinal .815."""
    n = np.nan
    data = np.array([
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ])
    alpha, low, high = alpha_ci(data)
    assert round(alpha, 3) == 0.815 and low < alpha <= high <= 1.0
    assert alpha_ci(data) == (alpha, low, high)  # a fixed seed: the same interval every time
    assert math.isnan(krippendorff_alpha(np.array([[3, 3, 3], [3, 3, 3]])))  # one value: undefined


def test_agreement_between_prompts_and_between_repeats() -> None:
    rows = []
    for t, (a, b) in {"x": (1, 1), "y": (2, 3), "z": (4, 4), "w": (5, 4)}.items():
        rows += [("A", t, 0, a, a, None), ("A", t, 1, a, a, None)]  # A repeats itself exactly
        rows += [("B", t, 0, b, b, None), ("B", t, 1, 6 - b, 6 - b, None)]  # B's repeats disagree
    rows.append(("B", "v", 0, None, None, "HTTP 500"))
    table = agreement(_results(rows), resamples=300).set_index(["criterion", "between"])
    assert list(table.columns) == AGREEMENT_COLUMNS[2:]
    same = table.loc[("clarity", "repeats of A")]
    assert (same["alpha"], same["icc"], same["raters"], same["transcripts"]) == (1.0, 1.0, 2, 4)
    shaky = table.loc[("clarity", "repeats of B")]
    assert shaky["alpha"] < 0 and shaky["icc"] < 0  # opposite scores on every repeat
    prompts = table.loc[("clarity", "prompts")]
    assert 0 < prompts["alpha"] < 1 and prompts["alpha_low"] <= prompts["alpha"] <= prompts["alpha_high"]
    assert prompts["icc_low"] <= prompts["icc"] <= prompts["icc_high"]
