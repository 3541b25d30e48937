#!/usr/bin/env bash
# Offline checks of the delivery files; `make lint` runs this after `make venv`.
#   workflows    actionlint (with shellcheck on run: blocks), zizmor --offline, JSON schema
#   Dockerfiles  hadolint
#   compose      both files against the compose-spec schema vendored in check-jsonschema
#   RabbitMQ     definitions.json regenerated from the contracts' topology and compared; the
#                definitions and metric-name tests (infra/tests)
#   Prometheus   promtool check config (rules included), promtool test rules, dashboard PromQL
#   Kubernetes   both overlays rendered (kubectl kustomize) and every object validated offline:
#                built-in kinds with kubernetes-validate, KEDA/RabbitMQ custom resources against
#                deploy/kubernetes/schemas, texpipe's rules; the copies of the broker definitions
#                and the dev broker user kept equal to their sources; the compiler's metrics
#                agent config (promtool check config --agent)
#   scripts      shellcheck
# promtool comes from Debian's prometheus package, unpacked into .tools/bin on first use.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=.venv/bin
promtool=.tools/bin/promtool
failed=()

check() {
  local name=$1
  shift
  echo "--> lint-delivery: $name" >&2
  if ! "$@"; then
    failed+=("$name")
  fi
}

[[ -x $promtool ]] || bash scripts/install-delivery-tools.sh >&2

workflows=(.github/workflows/*.yml)
dockerfiles=(services/*/Dockerfile)
composes=(compose/docker-compose.yml compose/docker-compose.prod.yml)
shell_scripts=(scripts/*.sh scripts/*/*.sh)

# actionlint finds shellcheck on PATH and checks every run: block with it.
check "actionlint" env PATH="$root/$bin:$PATH" "$bin/actionlint" "${workflows[@]}"
check "zizmor" "$bin/zizmor" --offline --quiet "${workflows[@]}"
check "workflow schema" "$bin/check-jsonschema" --builtin-schema vendor.github-workflows \
  "${workflows[@]}"
check "hadolint" "$bin/hadolint" "${dockerfiles[@]}"
check "compose schema" "$bin/check-jsonschema" --builtin-schema vendor.compose-spec \
  "${composes[@]}"
check "definitions.json vs contracts" "$bin/python" infra/rabbitmq/gen_definitions.py --check
check "infra tests" "$bin/pytest" -q -p no:cacheprovider infra/tests
check "promtool check config" "$promtool" check config infra/prometheus/prometheus.yml
check "promtool test rules" "$promtool" test rules infra/prometheus/alerts_test.yml
check "dashboard PromQL" "$bin/python" infra/grafana/check_dashboard.py "$promtool"
check "kubernetes definitions copy" "$bin/python" infra/rabbitmq/gen_definitions.py --check \
  -o deploy/kubernetes/base/rabbitmq/definitions.json
check "kubernetes dev users copy" cmp compose/rabbitmq/dev-users.json \
  deploy/kubernetes/overlays/dev/rabbitmq-dev-users.json
check "kubernetes manifests" "$bin/python" deploy/kubernetes/check_manifests.py
check "compiler metrics agent config" "$promtool" check config --agent \
  deploy/kubernetes/components/compiler-metrics-push/agent.yml
check "shellcheck" "$bin/shellcheck" "${shell_scripts[@]}"

if ((${#failed[@]})); then
  printf 'lint-delivery: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "lint-delivery: all checks passed" >&2
