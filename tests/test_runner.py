"""The `demo` and `run` subcommands, through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interview_kit.cli import main
from interview_kit.scenario import load_scenario

FAST_SCENARIO = """
name = "runner-fast"
speed = 40.0
report_delay = 0.1

[interviewer]
greeting = "Hello. Let's begin."
questions = ["What are you proud of?"]

[candidate]
answers = ["I rebuilt our data pipeline and cut the nightly run from six hours to forty minutes."]
pause = 0.3

[client]
ping_interval = 2.0
ping_timeout = 2.0
"""


def test_demo_runs_a_whole_interview_and_prints_the_folder_last(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "runner-fast.toml"
    scenario.write_text(FAST_SCENARIO)
    code = main(["demo", "--scenario", str(scenario), "--out", str(tmp_path / "sessions")])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    folder = Path(out[-1])
    assert folder.parent == tmp_path / "sessions" and folder.is_dir()
    assert any("interviewing -> triggered" in line for line in out)  # the timeline, as it happened
    assert any("goodbye_speaking -> complete" in line for line in out)
    speakers = {line.split(":", 1)[0].split()[-1] for line in out if line.lstrip()[:1].isdigit()}
    assert {"candidate", "interviewer"} <= speakers  # each turn shown as it is spoken (progress)
    assert any(line.startswith("outcome") and "complete" in line for line in out)
    assert any(line.startswith("longest stall") for line in out)
    session = json.loads((folder / "session.json").read_text())
    assert session["outcome"] == "complete" and session["scenario"] == "runner-fast"
    assert session["config"]["ping_interval"] == 2.0  # [client] applied
    assert session["config"]["speed"] == 40.0
    assert "api_key" not in session["config"]
    assert session["config"]["reconnect"] is True  # on by default
    assert any(line.startswith("reconnects") and line.split()[1] == "0" for line in out)


def test_demo_no_reconnect_ends_a_dropped_interview_disconnected(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "runner-drop.toml"
    scenario.write_text(FAST_SCENARIO + '\n[[faults]]\nkind = "drop"\nduring = "question"\nat = 0.5\n')
    code = main(["demo", "--scenario", str(scenario), "--out", str(tmp_path / "sessions"), "--no-reconnect"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 1
    session = json.loads(Path(out[-1], "session.json").read_text())
    assert session["outcome"] == "disconnected" and session["config"]["reconnect"] is False
    assert session["reconnects"] == 0


def test_demo_unknown_scenario_is_a_one_line_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--scenario", "no-such-scenario", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no-such-scenario" in err[0]


def test_demo_bad_client_table_names_the_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(FAST_SCENARIO + "pingg_interval = 1.0\n")
    code = main(["demo", "--scenario", str(scenario), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "pingg_interval" in err


def test_run_without_a_key_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["run"])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and "OPENAI_API_KEY" in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_run_names_the_key_variable_it_was_told(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MY_LAB_KEY", raising=False)
    assert main(["run", "--api-key-env", "MY_LAB_KEY"]) == 2
    assert "MY_LAB_KEY" in capsys.readouterr().err


def test_run_without_an_audio_device_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import interview_kit.audio as audio

    def no_device(device: object = None) -> None:
        raise audio.AudioDeviceError("no usable audio output device; use VirtualOutput instead")

    monkeypatch.setattr(audio, "check_output_device", no_device)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-whatever")
    code = main(["run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "audio output device" in err[0]
    assert "sk-whatever" not in err[0]


def test_run_bad_config_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "session.toml"
    config.write_text('model = "gpt-realtime"\nassessment_mode = "sometimes"\n')
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "assessment_mode" in err[0]


def test_shipped_scenarios_client_tables_are_valid_settings() -> None:
    from interview_kit.config import SessionConfig

    for name in ("default", "slow-report", "drop-during-summary", "stalled-server", "korean"):
        SessionConfig().with_overrides(load_scenario(name).client)


class _NoPortAudio:
    """A meta-path finder that fails `import sounddevice` as a machine without PortAudio does."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")


def _cli_options() -> set[str]:
    """Every --option some subcommand of the CLI really has."""
    import argparse

    from interview_kit.cli import build_parser

    options: set[str] = set()
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options |= {s for a in sub._actions for s in a.option_strings if s.startswith("--")}
    return options


@pytest.mark.parametrize("argv", [["run"], ["demo", "--speakers"]])
def test_no_portaudio_error_names_only_what_exists(argv: list[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13: `run` without PortAudio suggested `--virtual`, a flag that does not exist."""
    import re
    import sys

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-whatever")
    code = main([*argv, "--out", str(tmp_path / "sessions")])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2 and len(err) == 1, captured.err
    assert "PortAudio" in err[0] and "libportaudio2" in err[0]  # what to install
    assert "--virtual" not in err[0]
    flags = set(re.findall(r"--[a-z][a-z-]*", err[0]))
    assert flags <= _cli_options(), flags  # any flag it names is a real one
    if argv == ["run"]:
        assert "interview-kit demo" in err[0]  # the offline alternative that needs no device
    else:
        assert "--speakers" in err[0]
    assert "sk-whatever" not in captured.err
    assert not (tmp_path / "sessions").exists()  # refused before anything ran


def test_run_and_demo_open_their_interviews_through_launch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`demo` and `run` set up their sessions with `launch.open_interview` (as the panel does)."""
    import contextlib

    from interview_kit import launch

    calls: list[dict] = []

    @contextlib.asynccontextmanager
    async def refusing(base: object, **choices: object):  # type: ignore[no-untyped-def]
        calls.append(choices)
        raise launch.SetupError("stubbed set-up")
        yield  # pragma: no cover

    monkeypatch.setattr(launch, "open_interview", refusing)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-whatever")
    assert main(["demo", "--scenario", "default", "--speed", "7", "--out", str(tmp_path)]) == 2
    assert main(["run", "--base-url", "http://127.0.0.1:9/v1", "--prompt", "default"]) == 2
    assert capsys.readouterr().err.count("error: stubbed set-up") == 2
    demo, run = calls
    assert demo["emulator"] is True and demo["candidate"] == "simulated"
    assert demo["scenario"] == "default" and demo["speed"] == 7.0 and demo["settings"]["out_dir"] == tmp_path
    assert run["emulator"] is False and run["candidate"] == "microphone"
    assert run["settings"] == {"base_url": "http://127.0.0.1:9/v1", "prompt": "default"}


def test_the_command_line_loads_only_the_chosen_subcommand() -> None:
    """`interview-kit demo` does not wait for the other subcommands' imports (the emulator's server
    imports openai's types: seconds on a busy machine, all of it before Ctrl-C could end the run
    quietly); the top-level parser names every subcommand without importing any."""
    import subprocess
    import sys

    probe = ("import sys; from interview_kit.cli import COMMANDS, build_parser, _command; "
             "parser = build_parser(only=_command(sys.argv[1:])); "
             "assert set(parser._subparsers._group_actions[0].choices) == set(COMMANDS); "
             "print(sorted(m for m in ('interview_kit.runner', 'interview_kit.emulator.app', "
             "'interview_kit.analysis.cli', 'openai') if m in sys.modules))")
    for argv, loaded in ((["-v", "demo", "--speed", "2"], "['interview_kit.runner']"), (["--help"], "[]")):
        out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True,
                             timeout=120, check=True).stdout.strip()
        assert out == loaded, (argv, out)
