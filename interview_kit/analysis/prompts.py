"""Compare assessment prompt variants: every prompt on every transcript, repeated, as one DataFrame.

Calls go through an `interview_kit.assessment.Assessor` (retries are its job), concurrently within a
limit, with a progress bar. A failed call is a row with its `error`, never an exception, so one bad
prompt does not cost the others' results. Offline, `compare_prompts` serves the emulator's
chat-completions endpoint from a thread and points the real `openai` client at it: the code path is
the hosted one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import logging
import time
import warnings
import weakref
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from interview_kit.analysis.session_folder import REPORT_FILE, SESSION_FILE, TRANSCRIPT_FILE

if TYPE_CHECKING:
    from interview_kit.assessment import AssessmentPrompt, Assessor

log = logging.getLogger(__name__)

Turns = list[dict[str, Any]]
ROLE_ALIASES = {
    "interviewer": "interviewer",
    "assistant": "interviewer",
    "candidate": "candidate",
    "user": "candidate",
}
NOT_TRANSCRIPTS = frozenset({SESSION_FILE, REPORT_FILE})  # beside transcript.json in a session folder
RESULT_COLUMNS = [
    "prompt",
    "transcript",
    "repeat",
    "overall",
    "summary_words",
    "strengths",
    "concerns",
    "latency_s",
    "duration_s",
    "tokens",
    "model",
    "stand_in",
    "error",
]
# Assessors `offline_assessor` made: their scores come from the emulator's stand-in model.
_STAND_INS: weakref.WeakSet[Any] = weakref.WeakSet()


class TranscriptError(ValueError):
    """A transcript file that cannot be used; the message names the file."""


def _turns_from(raw: Any, where: str) -> Turns:
    """Turns from the session's `{"turns": [...]}` or a plain list of `{"role", "text"}`."""
    turns = raw.get("turns") if isinstance(raw, dict) else raw
    if not isinstance(turns, list) or not turns:
        raise TranscriptError(f'{where}: expected a non-empty list of turns or {{"turns": [...]}}')
    out: Turns = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise TranscriptError(f"{where}: turn {i} is not an object")
        if turn.get("transcription_failed"):  # the candidate spoke, but no text came: nothing to score
            continue
        role = ROLE_ALIASES.get(str(turn.get("role", "")).lower())
        text = turn.get("text", turn.get("content"))
        if role is None or not isinstance(text, str):
            raise TranscriptError(f"{where}: turn {i} needs a role (interviewer/candidate) and a text")
        out.append({"role": role, "text": text})
    return out


def _transcript_files(path: Path) -> Iterator[tuple[Path, bool]]:
    """(file, named explicitly): a file itself, or the JSON files under a folder (session folders too)."""
    if path.is_file():
        yield path, True
        return
    if not path.is_dir():
        raise TranscriptError(f"{path}: no such file or folder")
    for file in sorted(path.rglob("*.json")):
        if file.name not in NOT_TRANSCRIPTS:
            yield file, False


def load_transcripts(source: str | Path | Mapping[str, Any] | Iterable[Any]) -> dict[str, Turns]:
    """Transcripts by name, from a folder (every `*.json` in it, session folders included), files,
    a mapping name -> turns, or a list of such. A session's `transcript.json` is named after its folder,
    other files after their stem. A file that is not a transcript raises `TranscriptError` naming it
    (inside a folder, JSON files that are not transcripts are skipped with a log line)."""
    if isinstance(source, Mapping):
        return {str(name): _turns_from(turns, str(name)) for name, turns in source.items()}
    items = [source] if isinstance(source, str | Path) else list(source)
    out: dict[str, Turns] = {}
    for item in items:
        if not isinstance(item, str | Path):  # a list of turns given directly
            out[f"transcript-{len(out) + 1}"] = _turns_from(item, f"transcript-{len(out) + 1}")
            continue
        for file, explicit in _transcript_files(Path(item)):
            try:
                raw = json.loads(file.read_text(encoding="utf-8"))
                turns = _turns_from(raw, str(file))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                if explicit:
                    raise TranscriptError(
                        str(exc) if isinstance(exc, TranscriptError) else f"{file}: {exc}"
                    ) from None
                log.info("skipping %s: not a transcript (%s)", file, exc)
                continue
            name = file.parent.name if file.name == TRANSCRIPT_FILE else file.stem
            while name in out:
                name += "'"
            out[name] = turns
    if not out:
        raise TranscriptError(f"no transcripts found in {source!r}")
    return out


def _load_prompts(prompts: str | Path | AssessmentPrompt | Iterable[Any]) -> list[AssessmentPrompt]:
    from interview_kit.assessment import AssessmentPrompt, load_prompt

    items = [prompts] if isinstance(prompts, str | Path | AssessmentPrompt) else list(prompts)
    loaded = [load_prompt(p) for p in items]
    if not loaded:
        raise ValueError("no prompts to compare")
    names = [p.name for p in loaded]
    for i, p in enumerate(loaded):  # two files with the same `name`: tell them apart by position
        if names.count(p.name) > 1:
            loaded[i] = p.model_copy(update={"name": f"{p.name}#{i + 1}"})
    return loaded


async def compare_prompts_async(
    transcripts: Any,
    prompts: Any,
    *,
    assessor: Assessor,
    repeats: int = 1,
    concurrency: int = 4,
    progress: bool = True,
    call_timeout: float = 300.0,
) -> pd.DataFrame:
    """Score every transcript with every prompt `repeats` times through `assessor`, at most
    `concurrency` calls at once; one row per call (see `compare_prompts` for the columns)."""
    from tqdm.auto import tqdm

    if repeats < 1 or concurrency < 1:
        raise ValueError("repeats and concurrency must be at least 1")
    texts = load_transcripts(transcripts)
    variants = _load_prompts(prompts)
    jobs = list(itertools.product(variants, texts.items(), range(repeats)))
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(jobs), desc="assessments", unit="call", disable=not progress)

    async def one(prompt: AssessmentPrompt, name: str, turns: Turns, repeat: int) -> dict[str, Any]:
        row: dict[str, Any] = {
            "prompt": prompt.name,
            "transcript": name,
            "repeat": repeat,
            "model": getattr(assessor, "model", None),
            "stand_in": assessor in _STAND_INS,
            "error": None,
        }
        async with gate:
            started = time.monotonic()
            try:
                report = await asyncio.wait_for(assessor.assess(turns, prompt), call_timeout)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                row["error"] = f"no report within {call_timeout:g} s"
            except Exception as exc:  # AssessmentError, or a bug in a custom assessor: a row either way
                row["error"] = str(exc) or type(exc).__name__
            else:
                row.update({f"score_{k}": v for k, v in report.scores.items()})
                usage = report.usage or {}
                row.update(
                    overall=report.overall,
                    summary_words=len(report.summary.split()),
                    strengths=len(report.strengths),
                    concerns=len(report.concerns),
                    duration_s=report.duration_s,
                    model=report.model or row["model"],
                    tokens=usage.get("total_tokens"),
                )
                row["stand_in"] = row["stand_in"] or str(row["model"]).startswith(STAND_IN_PREFIX)
            row["latency_s"] = time.monotonic() - started
        bar.update(1)
        if row["error"]:
            log.info("%s on %s (repeat %d) failed: %s", prompt.name, name, repeat, row["error"])
        return row

    try:
        rows = await asyncio.gather(*(one(p, name, turns, r) for p, (name, turns), r in jobs))
    finally:
        bar.close()
    criteria = list(dict.fromkeys(f"score_{c.name}" for p in variants for c in p.criteria))
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS[:3] + criteria + RESULT_COLUMNS[3:])
    for col in [*criteria, "overall", "summary_words", "strengths", "concerns", "duration_s", "tokens"]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame.sort_values(["prompt", "transcript", "repeat"], kind="stable").reset_index(drop=True)


def _run(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, also inside a notebook whose loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    log.info(
        "an event loop is running (a notebook?): it waits until the comparison is done; "
        "`await compare_prompts_async(...)` keeps it running"
    )
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="compare-prompts") as pool:
        return pool.submit(asyncio.run, coro).result()


def compare_prompts(
    transcripts: Any,
    prompts: Any,
    assessor: Assessor | None = None,
    *,
    repeats: int = 1,
    concurrency: int = 4,
    progress: bool = True,
    model: str = "gpt-4o-mini",
    base_url: str | None = None,
    api_key: str | None = None,
    scenario: Any = "default",
    call_timeout: float = 300.0,
) -> pd.DataFrame:
    """Run every prompt on every transcript (`repeats` times each) and return one row per call:
    `prompt`, `transcript`, `repeat`, `score_<criterion>` for each criterion, `overall`,
    `summary_words`, `strengths`/`concerns` (counts), `latency_s` (the call as the caller waited for it,
    retries included), `duration_s` (the report's own), `tokens`, `model` (what the server said answered:
    `emulator-standin-...` offline), `stand_in` (True when the emulator's stand-in model scored: its
    scores are not a language model's; `stand_in_note` says so in a line), `error` (None on success).

    `transcripts`: a folder, files, or a mapping name -> turns (see `load_transcripts`); `prompts`:
    shipped names, TOML paths or `AssessmentPrompt`s. Give an `assessor`, or `base_url`/`api_key` for an
    `OpenAIAssessor` on that server; with neither, the emulator (`scenario`) is started in a thread and
    called with the real `openai` client, offline. Works in a notebook cell too, but a running event loop
    waits until it is done: where that loop has work of its own (a live session), or the server lives on
    it, use `await compare_prompts_async(...)` instead.
    """
    from interview_kit.assessment import OpenAIAssessor

    texts, variants = load_transcripts(transcripts), _load_prompts(prompts)  # bad input fails before any call

    def run_with(chosen: Assessor) -> pd.DataFrame:
        return _run(
            compare_prompts_async(
                texts,
                variants,
                assessor=chosen,
                repeats=repeats,
                concurrency=concurrency,
                progress=progress,
                call_timeout=call_timeout,
            )
        )

    if assessor is not None:
        return run_with(assessor)
    if base_url is not None or api_key is not None:
        return run_with(OpenAIAssessor(model, base_url=base_url, api_key=api_key))
    with offline_assessor(model, scenario=scenario) as offline:
        return run_with(offline)


@contextlib.contextmanager
def offline_assessor(model: str = "gpt-4o-mini", *, scenario: Any = "default") -> Iterator[Assessor]:
    """An `OpenAIAssessor` on an emulator served from a thread (its chat endpoint) for the block."""
    from interview_kit.assessment import OpenAIAssessor
    from interview_kit.emulator import Emulator

    with Emulator.in_thread(scenario=scenario) as emu:
        assessor = OpenAIAssessor(model, base_url=emu.base_url, api_key="offline")
        _STAND_INS.add(assessor)
        yield assessor


def score_columns(results: pd.DataFrame) -> list[str]:
    """The per-criterion score columns of a `compare_prompts` result (named `score_<criterion>`)."""
    return [c for c in results.columns if c.startswith("score_")]


def _criteria(results: pd.DataFrame) -> list[str]:
    """What the comparison tables report on: every criterion, then `overall`."""
    return [*score_columns(results), "overall"]


def _rank_correlation(a: pd.Series, b: pd.Series) -> float:
    """Spearman's rho: Pearson's r of the ranks (ties averaged). NaN when either side is constant."""
    both = pd.concat([a, b], axis=1).dropna()
    if len(both) < 2:
        return np.nan
    ra, rb = both.iloc[:, 0].rank().to_numpy(), both.iloc[:, 1].rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return np.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def prompt_agreement(results: pd.DataFrame) -> pd.DataFrame:
    """For each pair of prompts and each criterion they share (and `overall`): Spearman's rank
    correlation of their scores across transcripts (means over repeats, failed calls left out).
    Columns: `criterion`, `prompt_a`, `prompt_b`, `rho`, `transcripts` (how many both scored).
    rho is NaN when fewer than two transcripts, or when a prompt gave every transcript the same score."""
    ok = results[results["error"].isna()]
    rows = []
    for criterion in _criteria(results):
        means = ok.groupby(["transcript", "prompt"])[criterion].mean().unstack("prompt")
        for a, b in itertools.combinations(sorted(means.columns), 2):
            pair = means[[a, b]].dropna()
            if pair.empty:
                continue
            rows.append(
                {
                    "criterion": criterion.removeprefix("score_"),
                    "prompt_a": a,
                    "prompt_b": b,
                    "rho": _rank_correlation(pair[a], pair[b]),
                    "transcripts": len(pair),
                }
            )
    return pd.DataFrame(rows, columns=["criterion", "prompt_a", "prompt_b", "rho", "transcripts"])


def repeat_spread(results: pd.DataFrame) -> pd.DataFrame:
    """How much repeats of the same prompt on the same transcript disagree: per prompt and criterion,
    the mean over transcripts of the standard deviation across repeats (`mean_std`), the largest range
    (`max_range`), and `failed` calls. 0 everywhere means the assessor is deterministic."""
    rows = []
    ok = results[results["error"].isna()]
    for prompt, calls in results.groupby("prompt"):
        good = ok[ok["prompt"] == prompt]
        for criterion in _criteria(results):
            per = good.groupby("transcript")[criterion]
            std, spread = per.std(ddof=0), per.max() - per.min()
            if std.dropna().empty:
                continue
            rows.append(
                {
                    "prompt": prompt,
                    "criterion": criterion.removeprefix("score_"),
                    "mean_std": float(std.mean()),
                    "max_range": float(spread.max()),
                    "repeats": int(per.count().max()),
                    "failed": int(calls["error"].notna().sum()),
                }
            )
    return pd.DataFrame(rows, columns=["prompt", "criterion", "mean_std", "max_range", "repeats", "failed"])


def prompt_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per prompt: mean of each criterion and `overall`, median latency, calls, failures."""
    ok = results[results["error"].isna()]
    means = ok.groupby("prompt")[_criteria(results)].mean()
    means.columns = [c.removeprefix("score_") for c in means.columns]
    info = results.groupby("prompt").agg(
        calls=("repeat", "size"),
        failed=("error", lambda e: e.notna().sum()),
        latency_median_s=("latency_s", "median"),
    )
    return info.join(means).reset_index()


# The emulator names its stand-in chat model with this prefix (`interview_kit.emulator.chat`): scores
# from it are deterministic stand-ins computed from the transcript, not a language model's judgement.
STAND_IN_PREFIX = "emulator-standin-"


def stand_in_models(results: pd.DataFrame) -> list[str]:
    """The emulator stand-in models that scored any of `results` (empty when a real model did)."""
    if "model" not in results:
        return []
    models = results["model"].dropna().astype(str).unique()
    return sorted(m for m in models if m.startswith(STAND_IN_PREFIX))


def stand_in_note(results: pd.DataFrame) -> str:
    """A line to show beside any output of these results when they come from the emulator's stand-in
    model ("" when they do not): its scores are made up from the transcript, not judged."""
    models = stand_in_models(results)
    if not models and not ("stand_in" in results and results["stand_in"].fillna(False).astype(bool).any()):
        return ""
    named = ", ".join(models) or "the emulator's stand-in model"
    return f"scored by {named}: the emulator's stand-in, not a language model"


AGREEMENT_COLUMNS = [
    "criterion",
    "between",
    "raters",
    "transcripts",
    "alpha",
    "alpha_low",
    "alpha_high",
    "icc",
    "icc_low",
    "icc_high",
    "model",
]
ALPHA_RESAMPLES = 1000
ALPHA_SEED = 20261203


def krippendorff_alpha(ratings: np.ndarray, *, domain: Any = None) -> float:
    """Krippendorff's alpha, ordinal, of a raters x units matrix (NaN = not rated), from the
    `krippendorff` package; NaN when it is undefined (fewer than two values, or no pairable unit)."""
    import krippendorff

    data = np.asarray(ratings, dtype=float)
    values = np.unique(data[~np.isnan(data)]) if domain is None else np.asarray(domain, dtype=float)
    pairable = (np.sum(~np.isnan(data), axis=0) >= 2).sum()
    if len(values) < 2 or pairable < 1:
        return np.nan
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(
                krippendorff.alpha(reliability_data=data, value_domain=values, level_of_measurement="ordinal")
            )
    except (ValueError, ZeroDivisionError):
        return np.nan


def alpha_ci(
    ratings: np.ndarray, *, confidence: float = 0.95, resamples: int = ALPHA_RESAMPLES, seed: int = ALPHA_SEED
) -> tuple[float, float, float]:
    """(alpha, low, high): `krippendorff_alpha` and a percentile-bootstrap interval over the units
    (transcripts resampled with replacement; numpy's generator seeded with `seed`; resamples where alpha
    is undefined are skipped). The interval is NaN with fewer than three units."""
    data = np.asarray(ratings, dtype=float)
    domain = np.unique(data[~np.isnan(data)])
    alpha = krippendorff_alpha(data, domain=domain)
    units = data.shape[1]
    if np.isnan(alpha) or units < 3:
        return alpha, np.nan, np.nan
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN units
        same = np.nanmax(data, axis=0) == np.nanmin(data, axis=0)
    if alpha == 1.0 and bool(np.all(same | np.isnan(np.nanmax(data, axis=0)))):
        return 1.0, 1.0, 1.0  # every unit rated alike: every resample agrees perfectly too
    rng = np.random.default_rng(seed)
    draws = [
        krippendorff_alpha(data[:, rng.integers(0, units, units)], domain=domain) for _ in range(resamples)
    ]
    kept = np.array([d for d in draws if not np.isnan(d)])
    if len(kept) < resamples / 2:
        return alpha, np.nan, np.nan
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(kept, [tail, 1.0 - tail])
    return alpha, float(low), float(high)


def icc_2_1(ratings: np.ndarray, *, confidence: float = 0.95) -> tuple[float, float, float]:
    """(icc, low, high): ICC(2,1) of a units x raters matrix (two-way random effects, absolute
    agreement, single rater; Shrout & Fleiss 1979, McGraw & Wong's ICC(A,1)) with its F-based confidence
    interval (the F quantiles from `scipy.stats.f`, as pingouin computes it). Units with a missing
    rating are left out. NaN below two units or two raters; when the raters agree exactly (no error
    variance) the ICC is 1 and the interval NaN."""
    from scipy.stats import f as f_dist

    y = np.asarray(ratings, dtype=float)
    y = y[~np.isnan(y).any(axis=1)]
    n, k = y.shape if y.ndim == 2 else (0, 0)
    if n < 2 or k < 2:
        return np.nan, np.nan, np.nan
    grand = y.mean()
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((y - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    if mse <= 1e-12:  # no error variance: perfect agreement, or raters apart by a constant offset
        if msc <= 1e-12:
            return (1.0, 1.0, 1.0) if msr > 0 else (np.nan, np.nan, np.nan)
        return float(msr / (msr + k * msc / n)), np.nan, np.nan
    icc = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    tail = (1.0 - confidence) / 2.0
    fc = msc / mse
    vn = (k - 1) * (n - 1) * (k * icc * fc + n * (1 + (k - 1) * icc) - k * icc) ** 2
    vd = (n - 1) * k**2 * icc**2 * fc**2 + (n * (1 + (k - 1) * icc) - k * icc) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        v = vn / vd
    if not np.isfinite(v) or v <= 0:  # the interval's degrees of freedom are undefined
        return float(icc), np.nan, np.nan
    f_up, f_low = f_dist.ppf(1 - tail, n - 1, v), f_dist.ppf(1 - tail, v, n - 1)
    low = n * (msr - f_up * mse) / (f_up * (k * msc + (k * n - k - n) * mse) + n * msr)
    high = n * (f_low * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_low * msr)
    return float(icc), float(low), float(high)


def _agreement_row(
    criterion: str, between: str, table: pd.DataFrame, model: str, confidence: float, resamples: int
) -> dict[str, Any]:
    """Alpha and ICC of a transcripts x raters table (raters: prompts, or repeats of one prompt)."""
    ratings = table.to_numpy(dtype=float)
    alpha, a_low, a_high = alpha_ci(ratings.T, confidence=confidence, resamples=resamples)
    icc, i_low, i_high = icc_2_1(ratings, confidence=confidence)
    return {
        "criterion": criterion.removeprefix("score_"),
        "between": between,
        "raters": table.shape[1],
        "transcripts": int(table.notna().sum(axis=1).ge(2).sum()),
        "alpha": alpha,
        "alpha_low": a_low,
        "alpha_high": a_high,
        "icc": icc,
        "icc_low": i_low,
        "icc_high": i_high,
        "model": model,
    }


def agreement(
    results: pd.DataFrame, *, confidence: float = 0.95, resamples: int = ALPHA_RESAMPLES
) -> pd.DataFrame:
    """Per criterion (and `overall`): how far the prompts agree with each other (raters = prompts, each
    prompt's score on a transcript the mean over its repeats; `between` = `prompts`), and how far each
    prompt agrees with itself across repeats (raters = repeats; `between` = `repeats of <prompt>`).

    Each row has Krippendorff's alpha (ordinal, `krippendorff` package) with a bootstrap interval over
    transcripts (`alpha_ci`), and ICC(2,1) with its F-based interval (`icc_2_1`); `confidence` is the
    intervals' level (0.95), `resamples` the alpha bootstrap's. `model` names who scored (the
    emulator's stand-in, when it was: see `stand_in_note`). Failed calls are left out. Values near 1
    mean agreement; 0, none beyond chance."""
    ok = results[results["error"].isna()] if "error" in results else results
    models = ", ".join(sorted(ok["model"].dropna().astype(str).unique())) if "model" in ok else ""
    rows = []
    for criterion in _criteria(results):
        means = ok.groupby(["transcript", "prompt"])[criterion].mean().unstack("prompt")
        if means.shape[1] >= 2 and means.notna().sum().sum():
            rows.append(_agreement_row(criterion, "prompts", means, models, confidence, resamples))
        for prompt, calls in ok.groupby("prompt"):
            repeats = calls.pivot_table(
                index="transcript", columns="repeat", values=criterion, aggfunc="mean"
            )
            if repeats.shape[1] >= 2 and repeats.notna().sum().sum():
                between = f"repeats of {prompt}"
                rows.append(_agreement_row(criterion, between, repeats, models, confidence, resamples))
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
