"""Finding the api URL and token: environment first, then the nearest .texpipe/env."""

from pathlib import Path

import pytest
from texpipe_cli.config import DEFAULT_API_URL, find_env_file, load_config, parse_env_file
from texpipe_cli.errors import UsageError


def test_env_file_syntax() -> None:
    text = """
# written by make up
TEXPIPE_API_URL=http://127.0.0.1:9000/
export TEXPIPE_TOKEN = "tok en"
OTHER='single'
EMPTY=
WITH_EQUALS=a=b
"""
    assert parse_env_file(text) == {
        "TEXPIPE_API_URL": "http://127.0.0.1:9000/",
        "TEXPIPE_TOKEN": "tok en",
        "OTHER": "single",
        "EMPTY": "",
        "WITH_EQUALS": "a=b",
    }


@pytest.mark.parametrize("line", ["just words", "=value", "BAD KEY=1"])
def test_env_file_errors_name_the_line(line: str) -> None:
    with pytest.raises(UsageError, match=r"env:2: expected KEY=VALUE"):
        parse_env_file(f"A=1\n{line}\n", source="env")


def test_the_nearest_env_file_in_a_parent_is_found(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / ".texpipe").mkdir()
    (tmp_path / ".texpipe" / "env").write_text("TEXPIPE_TOKEN=t\n")
    assert find_env_file(deep) == tmp_path / ".texpipe" / "env"


def test_environment_wins_key_by_key(tmp_path: Path) -> None:
    (tmp_path / ".texpipe").mkdir()
    (tmp_path / ".texpipe" / "env").write_text(
        "TEXPIPE_API_URL=http://file:1\nTEXPIPE_TOKEN=file-token\n"
    )
    config = load_config({"TEXPIPE_TOKEN": "env-token"}, tmp_path)
    assert (config.url, config.token) == ("http://file:1", "env-token")
    config = load_config({"TEXPIPE_API_URL": "https://env:2/"}, tmp_path)
    assert (config.url, config.token) == ("https://env:2", "file-token")


def test_defaults_and_refusals(tmp_path: Path) -> None:
    assert load_config({"TEXPIPE_TOKEN": "t"}, tmp_path).url == DEFAULT_API_URL
    with pytest.raises(UsageError, match="no api token"):
        load_config({}, tmp_path)
    with pytest.raises(UsageError, match="http:// or https://"):
        load_config({"TEXPIPE_TOKEN": "t", "TEXPIPE_API_URL": "ftp://x"}, tmp_path)
