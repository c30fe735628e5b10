"""SessionConfig: TOML, overrides with clear errors, URLs, and a snapshot without secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from interview_kit.config import ConfigError, SessionConfig


def test_defaults_are_the_hosted_api_and_the_fixed_flow() -> None:
    config = SessionConfig()
    assert config.base_url == "https://api.openai.com/v1" and config.is_hosted
    assert config.assessment_mode == "overlap"
    assert config.close_timeout <= 5
    assert config.realtime_url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"


def test_lines_follow_the_language_unless_set() -> None:
    assert "assessment" in SessionConfig().line("ack")
    assert SessionConfig(language="ko").line("goodbye").endswith("안녕히 계세요.")
    assert SessionConfig(language="ko-KR", ack_text="Un momento.").line("ack") == "Un momento."
    assert SessionConfig(language="fr").line("ack") == SessionConfig().line("ack")


def test_realtime_url_for_a_local_server() -> None:
    config = SessionConfig(base_url="http://127.0.0.1:8123/v1", model="m1")
    assert config.realtime_url == "ws://127.0.0.1:8123/v1/realtime?model=m1"
    assert not config.is_hosted


def test_overrides_convert_and_validate() -> None:
    config = SessionConfig().with_overrides({"ping_interval": 1, "out_dir": "x/y", "max_questions": 3})
    assert config.ping_interval == 1.0 and isinstance(config.ping_interval, float)
    assert config.out_dir == Path("x/y") and config.max_questions == 3
    with pytest.raises(ConfigError, match="pingg, speeed"):
        SessionConfig().with_overrides({"pingg": 1, "speeed": 2})
    with pytest.raises(ConfigError, match="ping_timeout must be a number"):
        SessionConfig().with_overrides({"ping_timeout": "soon"})
    with pytest.raises(ConfigError, match="assessment_mode"):
        SessionConfig().with_overrides({"assessment_mode": "eventually"})
    with pytest.raises(ConfigError, match="close_timeout must be a positive"):
        SessionConfig().with_overrides({"close_timeout": 0})
    with pytest.raises(ConfigError, match="max_questions must be an integer"):
        SessionConfig().with_overrides({"max_questions": True})


def test_from_toml_flat_or_session_table(tmp_path: Path) -> None:
    flat = tmp_path / "flat.toml"
    flat.write_text('model = "gpt-realtime-mini"\nping_interval = 5\n')
    assert SessionConfig.from_toml(flat).model == "gpt-realtime-mini"
    table = tmp_path / "table.toml"
    table.write_text('[session]\nassessment_mode = "after-ack"\nmax_minutes = 12.5\n')
    config = SessionConfig.from_toml(table)
    assert config.assessment_mode == "after-ack" and config.max_minutes == 12.5


def test_from_toml_errors_name_the_file_and_setting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('voice = "marin"\nvoise = "x"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml.*voise"):
        SessionConfig.from_toml(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("model = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        SessionConfig.from_toml(broken)
    with pytest.raises(ConfigError, match="no such config file"):
        SessionConfig.from_toml(tmp_path / "missing.toml")
    keyed = tmp_path / "keyed.toml"
    keyed.write_text('api_key = "sk-in-a-file"\n')
    with pytest.raises(ConfigError, match="environment") as info:
        SessionConfig.from_toml(keyed)
    assert "sk-in-a-file" not in str(info.value)


def test_key_from_environment_and_never_in_the_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_KEY", "sk-from-env")
    config = SessionConfig(api_key_env="LAB_KEY")
    assert config.resolve_api_key() == "sk-from-env"
    assert SessionConfig(api_key="sk-given", api_key_env="LAB_KEY").resolve_api_key() == "sk-given"
    snapshot = SessionConfig(api_key="sk-given").to_dict()
    assert "api_key" not in snapshot and "sk-given" not in str(snapshot)
    assert isinstance(snapshot["out_dir"], str)
