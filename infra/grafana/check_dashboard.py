"""Check every PromQL expression of the Grafana dashboards with promtool (offline).

Grafana's own variables are replaced by values Prometheus accepts, each expression becomes a
recording rule in a temporary file, and ``promtool check rules`` parses them all.

Usage: python infra/grafana/check_dashboard.py PROMTOOL [DASHBOARD.json ...]
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$namespace_re": ""}


def expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression) for every target of every panel, rows included."""
    found: list[tuple[str, str]] = []
    for panel in dashboard.get("panels", []):
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                expr = target["expr"]
                for variable, value in _GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found.append((inner["title"], expr))
    return found


def main(argv: list[str]) -> int:
    promtool, *paths = argv
    files = [Path(p) for p in paths] or sorted(Path(__file__).parent.glob("*.json"))
    exprs = [e for f in files for e in expressions(json.loads(f.read_text()))]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": expr}
                    for i, (_, expr) in enumerate(exprs)
                ],
            }
        ]
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as tmp:
        # JSON is YAML: promtool reads it as is.
        json.dump(rules, tmp)
        tmp.flush()
        done = subprocess.run([promtool, "check", "rules", tmp.name], check=False)
    if done.returncode == 0:
        print(f"{len(exprs)} dashboard expressions parse ({', '.join(map(str, files))})")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
