"""The committed JSON Schemas and AsyncAPI document match the models."""

from pathlib import Path

from texpipe_contracts.schema_gen import rendered_files

CONTRACTS_DIR = Path(__file__).resolve().parents[1]


def test_committed_files_match_the_models() -> None:
    stale = [
        relative
        for relative, content in rendered_files().items()
        if not (CONTRACTS_DIR / relative).exists()
        or (CONTRACTS_DIR / relative).read_text(encoding="utf-8") != content
    ]
    assert not stale, f"regenerate with 'make contracts': {stale}"


def test_asyncapi_names_both_channels() -> None:
    document = rendered_files()["asyncapi.json"]
    assert '"compile.requested.v1"' in document
    assert '"compile.completed.v1"' in document
