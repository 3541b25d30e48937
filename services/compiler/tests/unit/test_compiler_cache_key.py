"""The cache key changes with everything that decides the PDF, and only with that."""

import dataclasses

import pytest
from pydantic import TypeAdapter
from texpipe_compiler.cache_key import CacheInputs, cache_key, output_keys
from texpipe_contracts.v1 import Engine
from texpipe_contracts.v1.common import ObjectKey

BASE = CacheInputs(
    source_sha256="a" * 64,
    engine=Engine.PDFLATEX,
    engine_version="pdfTeX 3.14",
    engine_fingerprint="f" * 64,
    main_file="main.tex",
    source_date_epoch=0,
)


def test_the_same_inputs_give_the_same_key() -> None:
    assert cache_key(BASE) == cache_key(dataclasses.replace(BASE))


@pytest.mark.parametrize(
    "change",
    [
        {"source_sha256": "b" * 64},
        {"engine": Engine.XELATEX},
        {"engine_version": "pdfTeX 3.15"},
        {"engine_fingerprint": "e" * 64},
        {"main_file": "other.tex"},
        {"source_date_epoch": 1},
    ],
)
def test_any_input_changes_the_key(change: dict[str, object]) -> None:
    assert cache_key(dataclasses.replace(BASE, **change)) != cache_key(BASE)  # type: ignore[arg-type]


def test_output_keys_live_under_outputs_and_are_valid_object_keys() -> None:
    keys = output_keys(cache_key(BASE))
    assert keys.pdf == f"outputs/{cache_key(BASE)}/output.pdf"
    assert keys.log.endswith("/output.log")
    for key in (keys.pdf, keys.log, keys.meta):
        TypeAdapter(ObjectKey).validate_python(key)
