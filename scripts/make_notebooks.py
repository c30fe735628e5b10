"""Write the notebooks in notebooks/ from the cell sources below, with no outputs and no execution counts.

The .ipynb files are generated so that what is committed is only source: run this after editing a cell
here, never save a notebook with outputs over the committed one. Usage:

    .venv/bin/python scripts/make_notebooks.py           # (re)write notebooks/*.ipynb
    .venv/bin/python scripts/make_notebooks.py --check   # exit 1 if a notebook's sources differ

`--check` compares cell sources only: a notebook run and saved with its outputs (JupyterLab autosaves)
still passes; `nbstripout` (see .pre-commit-config.yaml and .gitattributes) keeps those outputs out of git.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

# Each notebook: a list of ("md" | "code" | "params", source). Exactly one "params" cell per notebook:
# the papermill-style cell (tagged `parameters`) holding every setting a run may change.

LIVE_INTERVIEW = [
    ("md", """\
# A live interview

Run one spoken interview from this notebook, watch it as it happens, then look at what it recorded.

By default everything is offline: the **built-in emulator** plays the interviewer (a local server that
speaks the Realtime API's wire protocol), and a **simulated candidate** answers by voice from a
scenario. The interview is a real one all the same: audio goes over a websocket, the server's voice
detector decides where turns end, the assessment report is generated through the OpenAI client, and
every event lands in a session folder.

To talk to the **hosted OpenAI API** instead, change the next cell: `TARGET = "hosted"` (with
`OPENAI_API_KEY` set in the environment that started Jupyter). The candidate is then you, at this
browser's microphone, and the interviewer speaks through this browser's speakers: click *Use the
browser's microphone* in the panel once before **Start** (on a laptop or a remote JupyterHub alike;
`CANDIDATE = "microphone"` uses the kernel machine's own sound devices). `TARGET = "url"` with
`BASE_URL` points it at any other OpenAI-compatible server."""),
    ("params", """\
# Settings a run may change (the `parameters` cell).
TARGET = "emulator"          # "emulator" (offline) | "hosted" (api.openai.com, needs OPENAI_API_KEY) | "url"
BASE_URL = None              # TARGET = "url": an OpenAI-compatible server, e.g. "http://127.0.0.1:8000/v1"
SCENARIO = "default"         # shipped scenario name or .toml path: the script and the simulated candidate
CANDIDATE = None             # None: simulated with the emulator, the browser microphone with the hosted API;
                             # or "browser" | "microphone" (the kernel's devices) | "simulated"
ASSESSMENT_MODE = "overlap"  # "overlap" (the fix) | "after-ack" (original order) | "blocking" (the bug)
PROMPT = "default"           # assessment prompt: a name in data/prompts/ or a .toml path
SPEED = 1.0                  # audio clock factor for the emulator and simulated candidate (1.0 = real time)
OUT_DIR = "../data/sessions" # where the session folder is written (git ignores all but the samples there)
RUN_LIMIT_S = 900            # stop the interview (cleanly) if it is still running after this long"""),
    ("md", """\
## The panel

Pick the target, scenario, prompt and assessment mode, then **Start**. While it runs the panel shows
the current phase of the interview (highlighted in the ordered list of phases: the interview, then the
assessment's acknowledgement, summary and goodbye), the connection's health (the last keepalive
round trip, the longest event-loop stall so far, the close code if the connection closed), the running
transcript, the last turn's voice-to-voice gap and the elapsed time. **Trigger assessment** ends the
questions early; **Stop** ends the interview at once and still writes its whole folder. When the
interview ends, the panel shows the folder's path, and under it a saved copy of how it ended (outcome,
transcript, timeline) that stays in the notebook when it is saved and reopened."""),
    ("code", """\
import asyncio

from interview_kit.config import SessionConfig
from interview_kit.widgets import InterviewPanel

panel = InterviewPanel(
    SessionConfig(), target=TARGET, base_url=BASE_URL, scenario=SCENARIO, candidate=CANDIDATE,
    assessment_mode=ASSESSMENT_MODE, prompt=PROMPT, speed=SPEED, out_dir=OUT_DIR,
)
panel"""),
    ("md", """\
## Run it

The next cell does what the **Start** button does. The interview runs as a task on this kernel's
own event loop, so the cell returns at once and the kernel stays free: the cell after it runs while
the interview goes on (watch the panel above update)."""),
    ("code", """\
task = panel.start()"""),
    ("code", """\
# other work while the interview runs; here: waiting (at most 30 s) until it is under way (the
# emulator starts in a process of its own first, about a second)
for _ in range(300):
    if panel.phase is not None or not panel.running:
        break
    await asyncio.sleep(0.1)
print(f"phase: {panel.phase}; {panel.live.health_text()}")"""),
    ("md", """\
Now wait for the end (the panel's **Stop** button, or `panel.stop()`, would end it early with the
folder complete)."""),
    ("code", """\
result = await panel.wait(within=RUN_LIMIT_S)
if result is None:
    raise RuntimeError(f"the interview did not run: {panel.error}")
print(f"outcome: {result.outcome}; close code: {result.close_code}")
print(f"folder: {result.folder}")"""),
    ("md", """\
## What it recorded

The session folder holds `events.jsonl` (every event in and out, phase changes, playback, stalls and
pings, on one clock), `transcript.json`, `report.json` and `session.json`. The analysis layer loads
it into tidy tables. The timeline shows who spoke when (bars), the assessment phases (the band),
event-loop stalls and keepalive pings, and the close if there was one."""),
    ("code", """\
%matplotlib inline
from IPython.display import display

from interview_kit.analysis import (
    assessment_gaps, load_session, plot_timeline, report_table, styled, voice_to_voice,
)

session = load_session(result.folder)
display(plot_timeline(session))"""),
    ("md", """\
The phases, each with how long it lasted and why it ended. In the default (`overlap`) mode the report
is generated while the acknowledgement is spoken, so `awaiting_report` is short or absent. (The
tables show seconds to the millisecond; the frames behind them keep every digit.)"""),
    ("code", """\
styled(session.phases[["phase", "start", "end", "duration", "exit_reason"]])"""),
    ("md", """\
The voice-to-voice gap of each turn: from the candidate's last speech to the interviewer's first
played sample, split into the voice detector's silence window, the server and the client."""),
    ("code", """\
parts = ["response_id", "vad_s", "server_created_s", "server_audio_s", "client_s", "gap_s"]
styled(voice_to_voice(session)[parts])"""),
    ("code", """\
styled(assessment_gaps(session)[["trigger_source", "trigger_to_ack_s", "ack_to_summary_s", "report_s",
                                 "summary_to_goodbye_s"]])"""),
    ("md", """\
The assessment report, as the assessor returned it (`session.report` holds the same as a dict)."""),
    ("code", """\
styled(report_table(session.report))"""),
]

TIMING_ANALYSIS = [
    ("md", """\
# Timing analysis

What the session folders say about timing: how long the candidate waits for the interviewer (the
voice-to-voice gap), how long the assessment's silences last in each assessment mode, and the
**timeout story** of the original failure, told with the recorded data.

By default it loads whatever is in `data/sessions/`: the samples recorded with the emulator by
`scripts/make_samples.py` (each assessment mode and the fault scenarios), plus the runs you made
yourself, since the panel, `interview-kit demo` and `interview-kit run` write there too (git tracks
only the samples). Point `SESSIONS` at other folders, or a list of them, to analyse those alone.

Only **usable** sessions are analysed: recorded in real time (speed 1: a `--speed 10` demo shrinks
every latency tenfold), assessed (the run reached the assessment), finished, and not a start-up
failure. The loader says below how many it left out and why; `INCLUDE_UNUSABLE = True` keeps them
(the figures then split groups by speed and target rather than pool them)."""),
    ("params", """\
# Settings a run may change (the `parameters` cell).
SESSIONS = "../data/sessions/*"  # a folder glob, a folder, or a list of folders
INCLUDE_UNUSABLE = False         # True: also sped-up, unfinished, failed-start, never-assessed runs"""),
    ("code", """\
%matplotlib inline
import pandas as pd
from IPython.display import display

from interview_kit.analysis import (
    assessment_gaps, load_sessions, plot_assessment_gaps, plot_latency, plot_timeline, styled, timeouts,
    voice_to_voice,
)

sessions = load_sessions(SESSIONS, include_unusable=INCLUDE_UNUSABLE)
for problem in sessions.errors:
    print("skipped (cannot be read):", problem)
print(sessions.left_out)  # how many sessions were left out, and why
for name, why in sorted(sessions.left_out.reasons.items()):
    print(f"  left out {name}: {why}")
if len(sessions) == 0:
    raise RuntimeError(f"no usable session in {SESSIONS!r}: run scripts/make_samples.py or a demo first")
styled(sessions.sessions[["session", "scenario", "mode", "speed", "target", "outcome", "close_code",
                          "close_reason"]])"""),
    ("md", """\
## One row per session

The headline figures: outcome, the median voice-to-voice gap with its bootstrap 95 % interval (over
the session's turns; none from a single turn), the worst gap, the assessment's silences, the longest
event-loop stall, reconnects, and how the connection ended."""),
    ("code", """\
summary = sessions.summary()
styled(summary[["session", "scenario", "assessment_mode", "outcome", "gap_median_s", "gap_ci_low_s",
                "gap_ci_high_s", "gap_max_s", "trigger_to_ack_s", "ack_to_summary_s", "report_s",
                "longest_stall_s", "reconnects", "close_code"]])"""),
    ("md", """\
## Medians with confidence intervals

Every gap and phase duration per scenario and mode: its median and a 95 % interval from a percentile
bootstrap (numpy, fixed seed, so the same data give the same interval). Per-turn latencies pool the
group's turns (`unit` turn), the assessment's gaps and the phases take one value per session (`unit`
session): with one session in a group there is no interval, only the value."""),
    ("code", """\
medians = sessions.medians(by=["scenario", "mode"])
styled(medians[medians["metric"].isin(["gap_s", "trigger_to_ack_s", "ack_to_summary_s", "report_s",
                                       "summary_to_goodbye_s"])])"""),
    ("md", """\
## Voice-to-voice gaps

For every interviewer turn that answers the candidate: from the candidate's actual last speech (the
server's `audio_end_ms`, mapped onto the session clock through the input audio stream) to the
interviewer's first played sample. Its parts: the voice detector's silence window (`vad_s`, set by
`silence_duration_ms`), the server (`server_created_s` + `server_audio_s`) and the client
(`client_s`, first audio delta to first sample played). The silence window dominates, which is why
it is the first setting to tune."""),
    ("code", """\
gaps = voice_to_voice(sessions)
styled(gaps[["vad_s", "server_created_s", "server_audio_s", "client_s", "gap_s"]].describe()
       .drop(index="count").reset_index(names="statistic"))"""),
    ("code", """\
display(plot_latency(sessions, by="scenario"))"""),
    ("md", """\
## Assessment gaps per mode, within each scenario

The end of the interview: trigger -> acknowledgement audio; acknowledgement end -> summary audio (the
silence the candidate sits through while the report is written); report generation time; summary ->
goodbye. In `overlap` mode the report starts at the trigger and is written while the acknowledgement
plays, so the gap after the acknowledgement is short; in `after-ack` mode (the original order) the
whole report time becomes silence; in `blocking` mode the report runs on the event loop.

Modes are compared only within a scenario (one panel each): the `slow-report` scenario's five-second
report would otherwise make whichever mode it was run in look slow."""),
    ("code", """\
gaps_by_mode = assessment_gaps(sessions).merge(
    sessions.sessions[["session", "scenario", "mode"]].astype(str), on="session")
styled(gaps_by_mode[["session", "scenario", "mode", "trigger_to_ack_s", "ack_to_summary_s", "report_s",
                     "summary_to_goodbye_s"]].sort_values(["scenario", "mode"]))"""),
    ("code", """\
display(plot_assessment_gaps(sessions, by="mode"))"""),
    ("md", """\
## The timeout story

The original failure: report generation (about 5 s, a synchronous model call) ran **on** the event
loop. While it ran nothing else did: the server's keepalive pings went unanswered, and the server
closed the connection with `1011 keepalive ping timeout`. The client only saw it afterwards.

The data tell it in three parts: a **stall** of the loop as long as the report (`loop.stall`), the
**pongs that stop**: no keepalive round trip completes while the loop is blocked (the client's pinging
runs on that loop too, so none is even logged as timed out), and the last answered ping precedes the
close by about the stall's length (`pong_to_close_s`); and the **close** (code, reason, and how long
after the stall it came). Below, every session's keepalive record, then the timeline of a session
that ended with 1011 next to one of the **same scenario and speed** that did not (the same slow
report, with the loop kept free)."""),
    ("code", """\
story = timeouts(sessions).merge(
    sessions.sessions[["session", "scenario", "mode", "speed"]].astype({"scenario": str, "mode": str}),
    on="session")
styled(story[["session", "scenario", "mode", "speed", "stalls", "longest_stall_s", "longest_stall_phase",
              "pings", "ping_timeouts", "close_code", "close_reason", "stall_to_close_s",
              "pong_to_close_s"]])"""),
    ("code", """\
def seconds(value: float) -> str:
    return "none" if pd.isna(value) else f"{value:.2f} s"


# Closed by the keepalive: 1011 after a long stall of the loop.
killed = story[(story["close_code"] == 1011) & (story["longest_stall_s"] >= 1.0)]
killed = killed.sort_values("longest_stall_s", ascending=False)
if killed.empty:
    print("No session here was closed by the keepalive. Record one with:\\n"
          "  interview-kit demo --scenario slow-report --assessment-mode blocking")
else:
    bad = killed.iloc[0]
    print(f"{bad['session']} ({bad['scenario']}, {bad['mode']} mode, speed {bad['speed']:g}x):\\n"
          f"  the loop stalled for {seconds(bad['longest_stall_s'])} in {bad['longest_stall_phase']};\\n"
          f"  the last keepalive round trip before the close: {seconds(bad['pong_to_close_s'])} earlier "
          f"(none completes while the loop is blocked);\\n"
          f"  closed by {bad['close_by'] or 'the other side'} with {bad['close_code']} "
          f"{bad['close_reason']!r}, {seconds(bad['stall_to_close_s'])} after the stall ended")
    display(plot_timeline(sessions[bad["session"]]))
    # the comparison: the same scenario at the same speed, so both timelines share one time scale
    fine = story[(story["scenario"] == bad["scenario"]) & (story["speed"] == bad["speed"])
                 & (story["close_code"] == 1000)]
    if fine.empty:
        print(f"No run of {bad['scenario']} at speed {bad['speed']:g}x completed here to compare with.")
    else:
        good = fine.iloc[0]
        print(f"{good['session']} ({good['scenario']}, {good['mode']} mode, speed {good['speed']:g}x):\\n"
              f"  longest stall over the threshold: {seconds(good['longest_stall_s'])}; "
              f"{good['pings']} pings, {good['ping_timeouts']} without a pong; "
              f"close code {good['close_code']}")
        display(plot_timeline(sessions[good["session"]]))"""),
    ("md", """\
The stall in the blocking session is as long as the report, far longer than the server's keepalive
timeout, and the close is seen the moment it ends: the server had already given up (1011), and the
client only learned it when its loop ran again. The client's own pings tell the same story from the
other side: no round trip completes during the stall, so the last one before the close is about a
stall's length earlier. With the report off the loop, the same slow report leaves no stall of note,
every ping is answered, and the interview completes."""),
    ("code", """\
pings = sessions.pings.merge(sessions.sessions[["session", "mode"]].astype(str), on="session")
rtt = pings.assign(rtt_ms=pings["rtt_s"] * 1000).groupby("mode")["rtt_ms"].describe()
styled(rtt.rename(columns=lambda c: c if c == "count" else f"{c}_ms").reset_index())"""),
    ("md", """\
## Reconnects

A session whose connection dropped and was resumed (issue 10's reconnect) has one row per connection
here, with the offline gap before each; the timeline shades those gaps."""),
    ("code", """\
resumed = summary[summary["reconnects"] > 0]
if resumed.empty:
    print("None of these sessions reconnected. Record one that does with:\\n"
          "  interview-kit demo --scenario drop-and-resume")
else:
    display(styled(sessions.connections[sessions.connections["session"].isin(resumed["session"])]))
    display(plot_timeline(sessions[resumed["session"].iloc[0]]))"""),
    ("md", """\
## The gaps as heard

Every figure above comes from event timestamps. A session that recorded its audio (`audio/` in its
folder) is also measured from the signal: `gap_audio_s` is the silence between one speaker's last
sound and the other's first, beside the event-derived `gap_s`. The Bland-Altman figure shows how far
the two agree ([docs/audio-gaps.md](../docs/audio-gaps.md)); turns where they differ by more than 50 ms
are listed."""),
    ("code", """\
turns = sessions.turns
if "gap_audio_s" not in turns or not (turns["gap_audio_s"].notna() & turns["gap_s"].notna()).any():
    print("None of these sessions has gaps measured from recorded audio (older runs did not record it).")
else:
    from interview_kit.analysis.audio_gaps import disagreements, plot_bland_altman

    display(plot_bland_altman(turns))
    off = disagreements(turns)
    print(f"{len(off)} turn(s) where the audio and the event log disagree by more than 50 ms")
    if len(off):
        display(styled(off[["session", "turn", "gap_s", "gap_audio_s", "gap_diff_s"]]))"""),
]

COMPARE_PROMPTS = [
    ("md", """\
# Comparing assessment prompts

The assessment report comes from a language model and a prompt (`data/prompts/*.toml`: a system
prompt, the rubric's criteria, a summary style). This notebook scores the same interview transcripts
with each prompt variant and compares them: the scores they give, how far they agree with each other
and with themselves on a repeat (Krippendorff's alpha and the intraclass correlation, with confidence
intervals), and how long each call takes.

Offline, the calls go through the built-in emulator's **stand-in** chat model, with the real `openai`
client: the code path is the hosted one, but the scores are not a language model's judgement. The
stand-in computes them from the transcript's words and the prompt, deterministically: a repeat gives
the same scores, and prompts agree only as far as their criteria read the same features. Every table,
figure and CSV of such a run names the stand-in model. For real scores, set
`BASE_URL = "https://api.openai.com/v1"` in the next cell, with `OPENAI_API_KEY` set in the
environment that started Jupyter."""),
    ("params", """\
# Settings a run may change (the `parameters` cell).
TRANSCRIPTS = "../data/transcripts"  # a folder of transcripts (transcript.json or JSON lists of turns)
PROMPTS = ["default", "strict", "supportive"]  # prompt names in data/prompts/ or .toml paths
BASE_URL = None     # None: the built-in emulator; "https://api.openai.com/v1" for the hosted API
MODEL = "gpt-4o-mini"
REPEATS = 2         # calls per prompt and transcript, to see the spread
CONCURRENCY = 4     # calls in flight at once"""),
    ("code", """\
%matplotlib inline
import contextlib

import pandas as pd
from IPython.display import display

from interview_kit.analysis import (
    agreement, compare_prompts_async, load_transcripts, plot_prompt_scores, prompt_agreement, repeat_spread,
    stand_in_note, styled,
)
from interview_kit.analysis.prompts import offline_assessor, prompt_table
from interview_kit.assessment import OpenAIAssessor

transcripts = load_transcripts(TRANSCRIPTS)
print(f"{len(transcripts)} transcripts:", ", ".join(transcripts))"""),
    ("md", """\
## Score every transcript with every prompt

All calls run concurrently on this kernel's event loop (up to `CONCURRENCY` at once) with a progress
bar. A call that fails after the assessor's retries (it retries 429s and 5xx with backoff) is a row
with its `error`, not an exception. Offline, the emulator serves the chat endpoint from its own
thread for the duration of the cell. (`compare_prompts(...)`, without `await`, does the same from a
script.)"""),
    ("code", """\
if BASE_URL is None:
    assessor_in_use = offline_assessor(MODEL)  # the emulator's stand-in chat model, in a thread
else:  # the key comes from OPENAI_API_KEY
    assessor_in_use = contextlib.nullcontext(OpenAIAssessor(MODEL, base_url=BASE_URL))
with assessor_in_use as assessor:
    results = await compare_prompts_async(transcripts, PROMPTS, assessor=assessor, repeats=REPEATS,
                                          concurrency=CONCURRENCY)
NOTE = stand_in_note(results)  # "" when a real model scored
print(NOTE or f"scored by {', '.join(results['model'].dropna().unique())}")
styled(results.head(10), caption=NOTE or None)"""),
    ("md", """\
## Scores

Left: the mean score each prompt gives per criterion. Right: each transcript's overall score under
each prompt; lines that do not cross mean the prompts rank the candidates alike."""),
    ("code", """\
display(plot_prompt_scores(results))"""),
    ("code", """\
styled(prompt_table(results), caption=NOTE or None)"""),
    ("md", """\
## Agreement and spread

**Between prompts**: do two prompts put the transcripts in the same order? Spearman's rho per pair
and criterion (1: the same order; 0: unrelated; with a handful of transcripts one swapped pair moves
it a lot). **Agreement** treats each prompt (or each repeat of one prompt) as a rater: Krippendorff's
alpha (ordinal scores; its interval from a bootstrap over transcripts) and ICC(2,1) (absolute
agreement of single scores; its interval from the F distribution). Both near 1: the raters agree; near
0: no better than chance. Read the intervals: with few transcripts they are wide, and a point value
alone says little."""),
    ("code", """\
rho = prompt_agreement(results)
styled(rho, caption=NOTE or None)"""),
    ("code", """\
table = agreement(results)
styled(table, caption=NOTE or None)"""),
    ("code", """\
between = table[table["between"] == "prompts"].set_index("criterion")
if between.empty:
    print("One prompt only: nothing to compare between prompts.")
else:
    low, high = between["alpha"].idxmin(), between["alpha"].idxmax()
    print(f"Between prompts, agreement is lowest on {low} (alpha {between.loc[low, 'alpha']:.2f}, "
          f"95 % interval {between.loc[low, 'alpha_low']:.2f} to {between.loc[low, 'alpha_high']:.2f}) "
          f"and highest on {high} (alpha {between.loc[high, 'alpha']:.2f}).")
repeats = table[table["between"].str.startswith("repeats")]
if not repeats.empty:
    print(f"Between repeats of one prompt: alpha from {repeats['alpha'].min():.2f} to "
          f"{repeats['alpha'].max():.2f}" + (" (the stand-in is deterministic)" if NOTE else ""))"""),
    ("code", """\
styled(repeat_spread(results), caption=NOTE or None)"""),
    ("md", """\
## Latency and tokens

Time per call and tokens used, per prompt: what a prompt costs in the interview's assessment phase,
where the report's time is silence unless it overlaps the acknowledgement."""),
    ("code", """\
cost = results.groupby("prompt")[["latency_s", "duration_s", "tokens"]].agg(["median", "max"])
cost.columns = [f"{col.removesuffix('_s')}_{stat}" + ("_s" if col.endswith("_s") else "")
                for col, stat in cost.columns]  # latency_median_s: the unit stays at the end
styled(cost.reset_index(), caption=NOTE or None)"""),
    ("code", """\
errors = results[results["error"].notna()]
print(f"{len(errors)} failed call(s)")
styled(errors[["prompt", "transcript", "repeat", "error"]])"""),
]

NOTEBOOKS_SPEC = {
    "01_live_interview.ipynb": LIVE_INTERVIEW,
    "02_timing_analysis.ipynb": TIMING_ANALYSIS,
    "03_compare_prompts.ipynb": COMPARE_PROMPTS,
}


def build(cells: list[tuple[str, str]], stem: str) -> nbformat.NotebookNode:
    """A notebook with stable cell ids (so regenerating changes nothing) and no outputs: what nbstripout
    (with the `metadata.language_info` key of .pre-commit-config.yaml) leaves of a run and saved one."""
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    }
    params = 0
    for i, (kind, source) in enumerate(cells):
        cell_id = str(i)  # sequential, as nbstripout numbers them: a stripped notebook is byte-identical
        if kind == "md":
            nb.cells.append(new_markdown_cell(source, id=cell_id))
        else:
            cell = new_code_cell(source, id=cell_id)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
                params += 1
            nb.cells.append(cell)
    if params != 1:
        raise ValueError(f"{stem}: expected exactly one parameters cell, found {params}")
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(NOTEBOOKS_SPEC[name], name), version=4) + "\n"


def sources(nb: nbformat.NotebookNode) -> list[tuple[str, str, tuple[str, ...]]]:
    """What a notebook *is*: each cell's type, source and tags. Outputs, execution counts and the metadata
    Jupyter rewrites on save are left out, so a notebook run and saved still matches its generator."""
    return [(c.cell_type, c.source, tuple(c.get("metadata", {}).get("tags", ()))) for c in nb.cells]


def differs(name: str, path: Path) -> bool:
    """True when the notebook at `path` is missing or its sources differ from the generator's."""
    if not path.is_file():
        return True
    try:
        saved = nbformat.read(path, as_version=4)
    except Exception:  # not a notebook any more: regenerate it
        return True
    return sources(saved) != sources(build(NOTEBOOKS_SPEC[name], name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a notebook differs")
    args = parser.parse_args(argv)
    NOTEBOOKS.mkdir(exist_ok=True)
    stale = []
    for name in NOTEBOOKS_SPEC:
        path = NOTEBOOKS / name
        text = render(name)
        if args.check:
            if differs(name, path):
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date (run scripts/make_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
