"""The alert rules, the dashboard, docs/metrics.md and the services agree on metric names."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "infra" / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((ROOT / "infra" / "grafana").glob("*.json"))
METRICS_DOC = ROOT / "docs" / "metrics.md"
SOURCES = [*ROOT.glob("services/*/src"), *ROOT.glob("libs/*/src")]

# Series names Prometheus derives from a histogram or adds itself.
_SUFFIXES = ("_bucket", "_count", "_sum")
_NAME = re.compile(r"\b((?:texpipe|rabbitmq)_[a-z0-9_]+|texpipe:[a-z0-9_:]+|up)\b")
_PROMQL_WORDS = {"texpipe", "rabbitmq"}


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _names_in(expr: str) -> set[str]:
    # Label values are strings: drop them before looking for metric names.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return {_base(n) for n in _NAME.findall(bare)} - _PROMQL_WORDS - {"up"}


def _rule_exprs() -> list[str]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def _dashboard_exprs() -> list[str]:
    exprs: list[str] = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            exprs += [t["expr"] for t in panel.get("targets", [])]
    return exprs


def _documented() -> set[str]:
    return set(re.findall(r"^\| `([a-z0-9_:]+)` \|", METRICS_DOC.read_text(), re.MULTILINE))


def _defined_in_source() -> str:
    return "\n".join(p.read_text() for src in SOURCES for p in src.rglob("*.py"))


def test_dashboards_exist() -> None:
    assert DASHBOARDS


@pytest.mark.parametrize("origin", ["alerts", "dashboard"])
def test_every_metric_used_is_documented(origin: str) -> None:
    exprs = _rule_exprs() if origin == "alerts" else _dashboard_exprs()
    used = set().union(*(_names_in(e) for e in exprs))
    assert used, "no metric found: the name pattern is wrong"
    assert used - _documented() == set()


def test_every_documented_texpipe_metric_is_defined_by_a_service() -> None:
    source = _defined_in_source()
    documented = {n for n in _documented() if n.startswith("texpipe_")}
    missing = {n for n in documented if f'"{n}"' not in source}
    assert missing == set(), f"documented in docs/metrics.md, defined by no service: {missing}"
