"""scripts/make_samples.py: a failed recording never costs the old sample, and users' runs stay out of git."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
try:
    import make_samples
finally:
    sys.path.pop(0)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A sessions folder with last time's default:overlap sample and a user's own run."""
    out = tmp_path / "sessions"
    for name in ("20260101-000000-old", "20260102-000000-mine"):
        (out / name).mkdir(parents=True)
        (out / name / "events.jsonl").write_text("{}\n")
    manifest = {"samples": [{"folder": "20260101-000000-old", "scenario": "default", "mode": "overlap",
                             "outcome": "complete", "command": "interview-kit demo"}]}
    (out / make_samples.MANIFEST).write_text(json.dumps(manifest))
    return out


def run(out: Path, *extra: str) -> int:
    return make_samples.main(["--out", str(out), "--transcripts", str(out.parent / "transcripts"), *extra])


def test_a_failed_demo_keeps_the_old_sample(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(make_samples, "record", lambda *args: (None, "interview-kit demo"))
    assert run(out, "--only", "default:overlap") == 1
    assert (out / "20260101-000000-old" / "events.jsonl").is_file()
    manifest = json.loads((out / make_samples.MANIFEST).read_text())
    assert [e["folder"] for e in manifest["samples"]] == ["20260101-000000-old"]
    assert "!/20260101-000000-old/" in (out / ".gitignore").read_text().splitlines()


def test_a_new_sample_replaces_the_old_one_even_without_an_outcome(out: Path, monkeypatch, capsys) -> None:
    def record(scenario: str, mode: str, into: Path, speed: object, timeout: float) -> tuple[Path, str]:
        folder = into / "20260103-000000-new"
        folder.mkdir()
        (folder / "events.jsonl").write_text("{}\n")
        (folder / "session.json").write_text(json.dumps({"outcome": None}))  # a run cut short
        (folder / "transcript.json").write_text('{"turns": []}')
        return folder, f"interview-kit demo --scenario {scenario}"

    monkeypatch.setattr(make_samples, "record", record)
    assert run(out, "--only", "default:overlap") == 0
    assert "default              overlap    ?" in capsys.readouterr().out
    assert not (out / "20260101-000000-old").exists() and (out / "20260102-000000-mine").is_dir()
    manifest = json.loads((out / make_samples.MANIFEST).read_text())
    assert [(e["folder"], e["outcome"]) for e in manifest["samples"]] == [("20260103-000000-new", None)]
    assert (out.parent / "transcripts" / "demo-default.json").is_file()


def test_gitignore_keeps_only_the_samples_tracked(out: Path) -> None:
    assert run(out, "--gitignore-only") == 0
    lines = [x for x in (out / ".gitignore").read_text().splitlines() if not x.startswith("#")]
    # anchored: everything at the top is ignored (the user's run too), each sample folder kept but for
    # its recorded audio (about 10 MB a sample)
    assert lines == ["/*", "!/.gitignore", "!/.samples.json", "!/20260101-000000-old/", "/*/audio/"]
    assert (out / "20260101-000000-old").is_dir()  # nothing recorded or removed


def test_the_shipped_gitignore_matches_the_manifest() -> None:
    shipped = ROOT / "data" / "sessions"
    manifest = json.loads((shipped / make_samples.MANIFEST).read_text())
    expected = make_samples.gitignore_text([e["folder"] for e in manifest["samples"]])
    assert (shipped / ".gitignore").read_text() == expected
