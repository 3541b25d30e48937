"""The manifest check passes on the committed overlays and fails on broken ones.

Runs ``check_manifests.py`` as ``make lint`` does (kubectl's kustomize, kubernetes-validate's
schemas, our custom-resource schemas, texpipe's rules), on the real tree and on copies with
breaks that only one layer of the check can see. ~10-20 s here (four renders).
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


def copy_tree(target: Path) -> Path:
    shutil.copytree(KUBERNETES, target, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    return target


def test_schemas_catch_misspelt_fields(tmp_path: Path) -> None:
    base = copy_tree(tmp_path / "kubernetes") / "base"
    # Kubernetes' schema: a misspelt field of a built-in kind.
    replace_once(base / "api.yaml", "          startupProbe:", "          startupProbes:")
    # Our KEDA schema: a misspelt trigger parameter (KEDA would ignore it and fail at run time).
    replace_once(base / "autoscaling.yaml", "queueName: latex.compile", "queueNmae: latex.compile")

    done = run_check(base.parent, "overlays/dev")

    assert done.returncode == 1
    problems = done.stderr.splitlines()
    assert any(
        "Deployment/texpipe-api" in p and "'startupProbes' was unexpected" in p for p in problems
    ), done.stderr
    assert any(
        "ScaledObject/texpipe-compiler" in p and "'queueNmae' was unexpected" in p for p in problems
    ), done.stderr


def test_rules_catch_a_credential_in_the_manifest(tmp_path: Path) -> None:
    base = copy_tree(tmp_path / "kubernetes") / "base"
    # Valid for every schema, against texpipe's rules: a credential written into the manifest.
    replace_once(
        base / "applier.yaml",
        "            - name: TEXPIPE_SERVICE_TOKEN\n              valueFrom:\n"
        "                secretKeyRef: {name: texpipe-service-token, key: token}",
        "            - name: TEXPIPE_SERVICE_TOKEN\n              value: written-in-git",
    )

    done = run_check(base.parent, "overlays/dev")

    assert done.returncode == 1
    assert (
        "overlays/dev: Deployment/texpipe-applier: container applier: env TEXPIPE_SERVICE_TOKEN "
        "must come from a Secret (secretKeyRef)" in done.stderr.splitlines()
    ), done.stderr
