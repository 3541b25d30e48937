#!/usr/bin/env bash
# `docker compose` on the production host with the production settings loaded, for operators:
#
#   /opt/texpipe/scripts/deploy/compose.sh ps
#   /opt/texpipe/scripts/deploy/compose.sh logs --tail=200 compiler
#   /opt/texpipe/scripts/deploy/compose.sh exec applier texpipe-applier dlq list
#
# It reads /etc/texpipe/production.env (TEXPIPE_ENV_FILE) and takes TEXPIPE_TAG, unless set,
# from the last line of /var/lib/texpipe/deploy-history (what deploy.sh deployed last).
set -euo pipefail

src=${TEXPIPE_SRC:-/opt/texpipe}
env_file=${TEXPIPE_ENV_FILE:-/etc/texpipe/production.env}
history=${TEXPIPE_DEPLOY_HISTORY:-/var/lib/texpipe/deploy-history}

set -a
# shellcheck source=/dev/null
. "$env_file"
set +a
if [[ -z ${TEXPIPE_TAG:-} ]]; then
  TEXPIPE_TAG=$(awk 'END {print $2}' "$history")
fi
export TEXPIPE_TAG
exec docker compose -f "$src/compose/docker-compose.prod.yml" "$@"
