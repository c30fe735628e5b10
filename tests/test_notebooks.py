"""Every notebook runs top to bottom offline (emulator and sample data) in a kernel from this venv.

The notebooks are executed in memory with nbclient, with their `parameters` cell overridden
papermill-style (an injected cell right after it) to point at temp dirs and fast scenarios; nothing is
ever written back to the committed files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import nbformat


def nbf() -> Any:
    """nbformat, imported when a test needs it: its import takes seconds (jsonschema's format
    checkers), which every pytest worker would otherwise pay at collection."""
    import nbformat

    return nbformat


def nbf_client() -> Any:
    from nbclient import NotebookClient

    return NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01_live_interview.ipynb", "02_timing_analysis.ipynb", "03_compare_prompts.ipynb"]
CELL_TIMEOUT_S = 120  # per cell; a whole notebook here takes seconds, not minutes
KERNEL = "python3"
FOLDER_FILES = ("session.json", "events.jsonl", "transcript.json", "report.json")


@pytest.fixture(scope="module")
def venv_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `python3` kernelspec that runs this interpreter, found first on JUPYTER_PATH, so that neither a
    user-level kernelspec nor a PATH `python` can swap in another environment."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "interview_kit test kernel", "language": "python",
    }), encoding="utf-8")
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(root), *([old] if old else [])])
    try:
        yield KERNEL
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old


def with_parameters(nb: nbformat.NotebookNode, **params: Any) -> nbformat.NotebookNode:
    """Insert the overrides after the `parameters` cell, plus a check that the kernel is this venv's."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    lines = [f"{name} = {value!r}" for name, value in params.items()]
    lines.append(f"import sys as _sys\nassert _sys.prefix == {sys.prefix!r}, _sys.prefix")
    cell = nbf().v4.new_code_cell("\n".join(lines), id="injected-parameters")
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)
    return nb


def execute(name: str, kernel: str, **params: Any) -> nbformat.NotebookNode:
    nb = with_parameters(nbf().read(NOTEBOOKS / name, as_version=4), **params)
    client = nbf_client()(nb, kernel_name=kernel, timeout=CELL_TIMEOUT_S, startup_timeout=60,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def images_in(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))


def _make_notebooks():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import make_notebooks
    finally:
        sys.path.pop(0)
    return make_notebooks


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_valid_with_one_parameters_cell(name: str) -> None:
    nb = nbf().read(NOTEBOOKS / name, as_version=4)
    nbf().validate(nb)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"


def _committed(name: str) -> str | None:
    """The notebook as git has it staged (what the next commit holds), or None outside a git checkout."""
    try:
        done = subprocess.run(["git", "show", f":notebooks/{name}"], cwd=ROOT, capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_in_git_carry_no_outputs(name: str) -> None:
    """What is committed is source only (nbstripout keeps it so); the working copy may hold outputs."""
    text = _committed(name)
    if text is None:
        pytest.skip("not a git checkout, or the notebook is not tracked yet")
    nb = nbf().reads(text, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name} is committed with outputs"


def test_notebook_sources_match_their_generator() -> None:
    make_notebooks = _make_notebooks()
    for name in NAMES:
        assert not make_notebooks.differs(name, NOTEBOOKS / name), (
            f"{name}: its cells differ from scripts/make_notebooks.py: edit the generator and run it")


def test_a_run_and_saved_notebook_still_matches_but_an_edited_one_does_not(tmp_path: Path) -> None:
    """JupyterLab autosaves a run notebook with outputs, execution counts and its own metadata: the
    tests and `make_notebooks.py --check` compare sources, so that never breaks them."""
    make_notebooks = _make_notebooks()
    name = NAMES[1]
    nb = nbf().reads(make_notebooks.render(name), as_version=4)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = i + 1
        cell.outputs = [nbf().v4.new_output("stream", name="stdout", text="using 7 of 8 sessions\n")]
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    saved = tmp_path / name
    nbf().write(nb, saved)
    assert not make_notebooks.differs(name, saved)
    assert make_notebooks.main(["--check"]) == 0
    nb.cells[2].source += "\nprint('edited')"
    nbf().write(nb, saved)
    assert make_notebooks.differs(name, saved)


def test_live_interview_notebook_runs_an_interview(venv_kernel: str, tmp_path: Path) -> None:
    out = tmp_path / "sessions"
    nb = execute("01_live_interview.ipynb", venv_kernel, SCENARIO="default", SPEED=20.0, OUT_DIR=str(out),
                 RUN_LIMIT_S=120)
    text = text_of(nb)
    assert "outcome: complete" in text
    folders = [p for p in out.iterdir() if (p / "session.json").is_file()]
    assert len(folders) == 1 and str(folders[0]) in text
    assert json.loads((folders[0] / "session.json").read_text(encoding="utf-8"))["outcome"] == "complete"
    assert "phase: interviewing" in text  # the cell after Start ran while the interview was going on
    assert images_in(nb) >= 1  # the timeline


def shipped_samples_usable(shipped: Path) -> bool:
    """The shipped samples can tell the notebook's whole story: every folder complete (not being
    regenerated right now) and a slow-report session in blocking mode among them."""
    folders = [p for p in shipped.glob("*") if p.is_dir()]
    if not folders or not all((p / f).is_file() for p in folders for f in FOLDER_FILES):
        return False
    metas = [json.loads((p / "session.json").read_text(encoding="utf-8")) for p in folders]
    return any(m.get("scenario") == "slow-report" and m.get("assessment_mode") == "blocking" for m in metas)


@pytest.fixture(scope="module")
def sample_sessions(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped samples (data/sessions) when usable, else a few recorded now with the emulator:
    the default interview, and the slow report in blocking (killed by the keepalive) and overlap mode.
    (Those are sped up, so not usable by default: the notebook is then run with INCLUDE_UNUSABLE.)"""
    shipped = ROOT / "data" / "sessions"
    if shipped_samples_usable(shipped):
        return str(shipped / "*")
    import asyncio

    from interview_kit.widgets import InterviewPanel

    out = tmp_path_factory.mktemp("samples")

    async def one(scenario: str, mode: str) -> None:
        panel = InterviewPanel(scenario=scenario, assessment_mode=mode, speed=20.0, out_dir=out,
                               show_timeline=False)
        result = await panel.run(within=60)
        assert result is not None, panel.error

    async def record() -> None:
        await one("slow-report", "blocking")  # alone: it blocks the loop on purpose
        await asyncio.gather(one("default", "overlap"), one("slow-report", "overlap"))

    asyncio.run(record())
    return str(out / "*")


def shipped(sample_sessions: str) -> bool:
    return sample_sessions == str(ROOT / "data" / "sessions" / "*")


def test_timing_analysis_notebook_tells_the_story(venv_kernel: str, sample_sessions: str) -> None:
    nb = execute("02_timing_analysis.ipynb", venv_kernel, SESSIONS=sample_sessions,
                 INCLUDE_UNUSABLE=not shipped(sample_sessions))
    text = text_of(nb)
    # the session the keepalive killed was found and its stall, pongs and close described
    assert "the loop stalled for" in text and "closed by" in text
    assert "No session here was closed by the keepalive" not in text
    # ...and compared with a run of the same scenario at the same speed
    assert "slow-report, overlap mode, speed 1x" in text or not shipped(sample_sessions)
    assert images_in(nb) >= 3
    # it says how many sessions it left out and why (the shipped stalled-server run never got assessed)
    if shipped(sample_sessions):
        left = "using 7 of 8 sessions; left out 1: 1 did not reach the assessment (outcome disconnected)"
        assert left in text
        assert "stalled" not in "".join(
            o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    # tables are styled: units and milliseconds, not six decimals
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    assert " s</td>" in html and "1.02" in html


@pytest.fixture(scope="module")
def transcripts_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped sample transcripts, copied (read-only use) so the run cannot touch them."""
    shipped = ROOT / "data" / "transcripts"
    out = tmp_path_factory.mktemp("transcripts")
    files = sorted(shipped.glob("*.json"))
    if not files:
        pytest.skip("no sample transcripts in data/transcripts yet")
    for f in files:
        shutil.copy(f, out / f.name)
    return str(out)


def test_compare_prompts_notebook_scores_every_transcript(venv_kernel: str, transcripts_dir: str) -> None:
    nb = execute("03_compare_prompts.ipynb", venv_kernel, TRANSCRIPTS=transcripts_dir, REPEATS=1,
                 PROMPTS=["default", "strict"])
    text = text_of(nb)
    assert "0 failed call(s)" in text
    assert images_in(nb) >= 1
    # offline, every output names the stand-in model; the agreement table has alpha and ICC with intervals
    assert "scored by emulator-standin-gpt-4o-mini: the emulator's stand-in, not a language model" in text
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    for column in ("alpha_low", "alpha_high", "icc_low", "icc_high", "emulator-standin-gpt-4o-mini"):
        assert column in html
    assert "Between prompts, agreement is lowest on" in text and "trivially" not in text


def readme_analysis_snippet() -> str:
    """The code block under the README's "Analysis in three lines"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Analysis in three lines", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_analysis_snippet_shows_its_plot(venv_kernel: str, sample_sessions: str) -> None:
    """Pasted into a notebook cell as it stands, the README's snippet displays the figure (a PNG), not
    just ``<Figure ...>`` text: no ``%matplotlib`` line, no ``display``."""
    snippet = readme_analysis_snippet()
    code = snippet.replace('"data/sessions/*"', repr(sample_sessions))
    assert code != snippet and "%matplotlib" not in code and "display(" not in code
    nb = nbf().v4.new_notebook()
    nb.cells = [nbf().v4.new_code_cell(code, id="readme-snippet")]
    nbf_client()(nb, kernel_name=venv_kernel, timeout=CELL_TIMEOUT_S, startup_timeout=60,
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = nb.cells[0].outputs
    assert not any(o.get("output_type") == "error" for o in outputs), outputs
    assert images_in(nb) == 1, [o.get("data", {}).get("text/plain") for o in outputs]
