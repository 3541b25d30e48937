"""Render the Kubernetes overlays and validate every object, offline (``make lint``).

For each overlay (``overlays/dev``, ``overlays/prod``):

1. render it with ``kubectl kustomize`` (or a standalone ``kustomize build``);
2. validate every built-in object against the Kubernetes OpenAPI schemas that the
   ``kubernetes-validate`` package ships, in their strict form (an unknown field fails), for
   each version of ``KUBERNETES_VERSIONS``;
3. validate the operators' custom resources (KEDA's ScaledObject and TriggerAuthentication,
   RabbitMQ's RabbitmqCluster) against texpipe's own JSON Schemas in ``schemas/`` (written from
   the operators' documentation, unknown fields fail); any other kind is an error;
4. check texpipe's own rules (``rules``): secrets only from Secret references, hardened
   containers, probes, autoscalers that keep at least one replica.

    .venv/bin/python deploy/kubernetes/check_manifests.py [--root DIR] [OVERLAY ...]

Exit status 1 with one line per problem (overlay, kind/name, where, what), 0 when all hold.
"""

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import referencing
import yaml

HERE = Path(__file__).resolve().parent
OVERLAYS = ("overlays/dev", "overlays/prod")
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
"""The oldest Kubernetes the manifests need (appArmorProfile, preStop sleep) and the newest
schemas kubernetes-validate ships."""
CUSTOM_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_ScaledObject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_v1alpha1_TriggerAuthentication.json",
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): "rabbitmq.com_v1beta1_RabbitmqCluster.json",
}

Obj = dict[str, Any]


def render(overlay: Path) -> list[Obj]:
    """The objects of ``kustomize build overlay`` (kubectl's built-in kustomize first)."""
    if kubectl := shutil.which("kubectl"):
        command = [kubectl, "kustomize", str(overlay)]
    elif kustomize := shutil.which("kustomize"):
        command = [kustomize, "build", str(overlay)]
    else:
        raise SystemExit(
            "check_manifests: neither kubectl nor kustomize is on PATH (the project's machines "
            "have kubectl; elsewhere install kubectl >= 1.27 or kustomize >= 5)"
        )
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RenderError(done.stderr.strip() or f"exit status {done.returncode}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


class RenderError(Exception):
    """kustomize refused the overlay."""


def label(obj: Obj) -> str:
    """``Kind/name`` of an object, for messages."""
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def custom_validators(schemas: Path) -> dict[tuple[str, str], jsonschema.Draft202012Validator]:
    """One validator per custom kind; ``common.json`` is reachable by relative ``$ref``."""
    loaded = {p.name: json.loads(p.read_text()) for p in schemas.glob("*.json")}
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        (schema["$id"], referencing.Resource.from_contents(schema)) for schema in loaded.values()
    )
    validators = {}
    for key, name in CUSTOM_SCHEMAS.items():
        jsonschema.Draft202012Validator.check_schema(loaded[name])
        validators[key] = jsonschema.Draft202012Validator(loaded[name], registry=registry)
    return validators


def schema_errors(
    obj: Obj, validators: dict[tuple[str, str], jsonschema.Draft202012Validator]
) -> Iterator[str]:
    """What the schemas say about ``obj``: Kubernetes' for built-in kinds, ours for the rest."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    if key in validators:
        for error in sorted(validators[key].iter_errors(obj), key=str):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            yield f"{where}: {error.message} [schemas/{CUSTOM_SCHEMAS[key]}]"
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            yield f"{key[0]} {key[1]}: no schema, neither Kubernetes {version}'s nor ours"
            return
        except kubernetes_validate.ValidationError as error:  # the first error only
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            yield f"{where}: {error.message} [Kubernetes {version}]"


SECRET_VARIABLES = frozenset(
    {
        "TEXPIPE_AMQP_URL",
        "TEXPIPE_DATABASE_URL",
        "TEXPIPE_S3_ACCESS_KEY",
        "TEXPIPE_S3_SECRET_KEY",
        "TEXPIPE_SERVICE_TOKEN",
    }
)
"""Settings that hold a credential (docs/architecture.md, "Environment")."""
GRACE_MARGIN_S = 30
"""The compiler's shutdown grace beyond its compile timeout (texpipe_compiler.config)."""


def container_errors(pod: Obj, container: Obj) -> Iterator[str]:
    """A container that may run as root, write its image, keep a capability, or hold a secret."""
    context = container.get("securityContext", {})
    if context.get("allowPrivilegeEscalation") is not False:
        yield "allowPrivilegeEscalation must be false"
    if context.get("readOnlyRootFilesystem") is not True:
        yield "readOnlyRootFilesystem must be true"
    if context.get("privileged"):
        yield "must not be privileged"
    capabilities = context.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []) or capabilities.get("add"):
        yield "capabilities: drop ALL, add none"
    if not (context.get("seccompProfile") or pod.get("securityContext", {}).get("seccompProfile")):
        yield "no seccompProfile (pod or container)"
    resources = container.get("resources", {})
    if not {"cpu", "memory"} <= set(resources.get("requests", {})):
        yield "resources.requests needs cpu and memory"
    if "memory" not in resources.get("limits", {}):
        yield "resources.limits needs memory"
    for variable in container.get("env", []):
        if variable["name"] in SECRET_VARIABLES and "secretKeyRef" not in variable.get(
            "valueFrom", {}
        ):
            yield f"env {variable['name']} must come from a Secret (secretKeyRef)"


def workload_errors(obj: Obj, config: dict[str, str]) -> Iterator[str]:
    """Rules of a Deployment's or a Job's pod template."""
    pod = obj["spec"]["template"]["spec"]
    if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
        yield "securityContext.runAsNonRoot must be true"
    for container in pod.get("initContainers", []) + pod["containers"]:
        yield from (f"container {container['name']}: {e}" for e in container_errors(pod, container))
    service = pod["containers"][0]
    if obj["kind"] == "Deployment":
        for probe in ("livenessProbe", "readinessProbe"):
            path = service.get(probe, {}).get("httpGet", {}).get("path")
            if path not in {"/health", "/ready"}:
                yield f"container {service['name']}: {probe} must GET /health or /ready"
    if obj["metadata"]["name"] == "texpipe-compiler":
        timeout_s = int(config.get("LATEX_COMPILE_TIMEOUT_MS", "120000")) / 1000
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace < timeout_s + GRACE_MARGIN_S:
            yield (
                f"terminationGracePeriodSeconds {grace} is below the compiler's shutdown grace "
                f"({timeout_s:g} s compile timeout + {GRACE_MARGIN_S} s)"
            )


def rule_errors(objects: list[Obj], *, production: bool) -> Iterator[str]:
    """texpipe's own rules over one rendered overlay."""
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    config: dict[str, str] = {}
    for obj in objects:
        kind, where = obj["kind"], label(obj)
        if kind == "ConfigMap":
            config.update(obj.get("data", {}))
            for key in SECRET_VARIABLES & set(obj.get("data", {})):
                yield f"{where}: {key} is a credential: put it in a Secret"
        if kind == "Secret" and production:
            yield f"{where}: production Secrets are created out of band, never rendered from git"
    for obj in objects:
        kind, where, spec = obj["kind"], label(obj), obj.get("spec", {})
        if kind in {"Deployment", "Job"}:
            yield from (f"{where}: {e}" for e in workload_errors(obj, config))
        elif kind == "ScaledObject":
            low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
            if not 1 <= low <= high:
                yield f"{where}: needs 1 <= minReplicaCount ({low}) <= maxReplicaCount ({high})"
            if spec["scaleTargetRef"]["name"] not in deployments:
                yield f"{where}: scaleTargetRef names no Deployment of this overlay"
        elif kind == "HorizontalPodAutoscaler":
            if not 1 <= spec.get("minReplicas", 1) <= spec["maxReplicas"]:
                yield f"{where}: needs 1 <= minReplicas <= maxReplicas"
            if spec["scaleTargetRef"]["name"] not in deployments:
                yield f"{where}: scaleTargetRef names no Deployment of this overlay"


def main(argv: list[str] | None = None) -> int:
    """Check the overlays named (all by default); print the problems; 1 if there are any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HERE, help="the deploy/kubernetes folder")
    parser.add_argument("overlays", nargs="*", default=list(OVERLAYS))
    args = parser.parse_args(argv)
    validators = custom_validators(args.root / "schemas")
    problems: list[str] = []
    for overlay in args.overlays:
        try:
            objects = render(args.root / overlay)
        except RenderError as error:
            problems.append(f"{overlay}: kustomize: {error}")
            continue
        invalid = [
            f"{overlay}: {label(obj)}: {e}"
            for obj in objects
            for e in schema_errors(obj, validators)
        ]
        problems += invalid
        if invalid:  # the rules read the objects' fields and assume the schemas' shapes
            continue
        problems += [f"{overlay}: {e}" for e in rule_errors(objects, production="prod" in overlay)]
        if not problems:
            kinds = len({(o["apiVersion"], o["kind"]) for o in objects})
            print(
                f"{overlay}: {len(objects)} objects of {kinds} kinds valid (Kubernetes "
                f"{', '.join(KUBERNETES_VERSIONS)}; custom resources against schemas/)"
            )
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
