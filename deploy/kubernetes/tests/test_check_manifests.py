"""The manifest check passes on the committed overlays and fails on broken ones.

Runs ``check_manifests.py`` as ``make lint`` does (kubectl's kustomize, kubernetes-validate's
schemas, our custom-resource schemas), on the real tree and on a copy with three breaks, each
of which only one layer of the check can see. ~10 s here (two renders of each overlay).
"""

import shutil
import subprocess
import sys
from pathlib import Path

KUBERNETES = Path(__file__).resolve().parents[1]
CHECK = KUBERNETES / "check_manifests.py"


def run_check(root: Path, *overlays: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--root", str(root), *overlays],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name}: {old!r} is not there exactly once"
    path.write_text(text.replace(old, new))


def test_committed_overlays_are_valid() -> None:
    done = run_check(KUBERNETES)
    assert done.returncode == 0, done.stderr
    assert "overlays/dev:" in done.stdout
    assert "overlays/prod:" in done.stdout


def test_each_layer_catches_its_break(tmp_path: Path) -> None:
    root = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, root, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    base = root / "base"
    # Kubernetes' schema: a misspelt field of a built-in kind.
    replace_once(base / "api.yaml", "          startupProbe:", "          startupProbes:")
    # Our KEDA schema: a misspelt trigger parameter (KEDA would ignore it and fail at run time).
    replace_once(base / "autoscaling.yaml", "queueName: latex.compile", "queueNmae: latex.compile")
    # texpipe's rules: a credential written into the manifest instead of a Secret reference.
    replace_once(
        base / "applier.yaml",
        "            - name: TEXPIPE_SERVICE_TOKEN\n              valueFrom:\n"
        "                secretKeyRef: {name: texpipe-service-token, key: token}",
        "            - name: TEXPIPE_SERVICE_TOKEN\n              value: written-in-git",
    )

    done = run_check(root, "overlays/dev")

    assert done.returncode == 1
    problems = done.stderr.splitlines()
    assert any(
        "Deployment/texpipe-api" in p and "'startupProbes' was unexpected" in p for p in problems
    ), done.stderr
    assert any(
        "ScaledObject/texpipe-compiler" in p and "'queueNmae' was unexpected" in p for p in problems
    ), done.stderr
    assert any(
        "Deployment/texpipe-applier" in p and "TEXPIPE_SERVICE_TOKEN must come from a Secret" in p
        for p in problems
    ), done.stderr
