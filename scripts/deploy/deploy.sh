#!/usr/bin/env bash
# Deploy (or roll back to) a texpipe release on the production docker host.
#
#   sudo /opt/texpipe/scripts/deploy/deploy.sh v1.4.0
#   ssh deploy@host 'bash -s -- v1.4.0' < scripts/deploy/deploy.sh     # what deploy.yml runs
#
# On the host: the repository is cloned at /opt/texpipe (TEXPIPE_SRC), the production settings
# are in /etc/texpipe/production.env (TEXPIPE_ENV_FILE, mode 600, the variables that
# compose/docker-compose.prod.yml requires), and every deploy appends "<UTC time> <tag>" to
# /var/lib/texpipe/deploy-history, whose second-to-last line is the tag to roll back to.
#
# Steps: check out the tag, rebuild the three images on this host, restart the services and wait
# until their health checks pass. Database migrations are NOT run here: they are applied by hand
# before (infra/runbooks/migration.md), which deploy.yml makes the operator confirm.
set -euo pipefail

main() {
  local tag=${1:?usage: deploy.sh <tag>}
  local src=${TEXPIPE_SRC:-/opt/texpipe}
  local env_file=${TEXPIPE_ENV_FILE:-/etc/texpipe/production.env}
  local history=${TEXPIPE_DEPLOY_HISTORY:-/var/lib/texpipe/deploy-history}
  local compose=(docker compose -f compose/docker-compose.prod.yml)

  if [[ ! $tag =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    echo "deploy: '$tag' is not a release tag (vMAJOR.MINOR.PATCH)" >&2
    return 1
  fi
  cd "$src"
  echo "deploy: fetching tags in $src" >&2
  git fetch --tags --force origin
  git checkout --detach --force "refs/tags/$tag"

  set -a
  # shellcheck source=/dev/null
  . "$env_file"
  set +a
  export TEXPIPE_TAG=$tag

  echo "deploy: building the images of $tag" >&2
  "${compose[@]}" build
  echo "deploy: restarting the services on $tag" >&2
  "${compose[@]}" up -d --no-build --remove-orphans --wait --wait-timeout 300
  "${compose[@]}" ps

  mkdir -p "$(dirname "$history")"
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$tag" >>"$history"
  echo "deploy: $tag is running" >&2
}

# Everything runs from main: bash has read the whole function before `git checkout` can
# replace this file on disk.
main "$@"
exit $?
