#!/usr/bin/env bash
# `make images`: build the three service images on this machine, then run them against the
# local servers until /health answers.
#
# No registry of images is reachable here, so the base is made locally: debootstrap a Debian
# bookworm (its python3 is 3.11) and import it into podman as localhost/texpipe-base:bookworm.
# The Dockerfiles take it through their BASE_IMAGE build argument (default python:3.11-slim,
# what CI and production use). Debian's podman builds as root with the vfs storage driver and
# chroot isolation; RUN steps use the host's network, which reaches PyPI and Debian.
#
# Each step says what it does; a step this machine refuses stops the script with
# "images: step <name> refused: <why>" and the command's own output above it.
#
# Environment: IMAGES_DIR (default .tools/images) keeps the base rootfs between runs;
# IMAGES_TAG (default dev); IMAGES_SERVICES (default "api applier compiler") builds only those
# (the run check then uses the images of the others already tagged); IMAGES_SKIP_RUN=1 builds
# without the run check;
# IMAGES_REQUIRE_COMPILE=1 also fails when the end-to-end compile through the three containers
# does not end `applied` (otherwise its outcome is printed).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
images_dir=${IMAGES_DIR:-$root/.tools/images}
tag=${IMAGES_TAG:-dev}
base_image=localhost/texpipe-base:bookworm
podman=(podman --storage-driver=vfs)
read -r -a services <<<"${IMAGES_SERVICES:-api applier compiler}"

step() {
  local name=$1
  shift
  echo "==> images: $name" >&2
  local started=$SECONDS
  if ! "$@"; then
    echo "images: step $name refused: '$*' failed (exit status above; see its output)" >&2
    exit 1
  fi
  echo "    ($((SECONDS - started)) s)" >&2
}

require_root() {
  if [[ $(id -u) != 0 ]]; then
    echo "podman builds with --isolation=chroot and debootstrap need root; run as root" >&2
    return 1
  fi
}

install_packages() {
  local missing=()
  for p in podman debootstrap runc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} == 0 ]] && return 0
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The Debian mirror this machine's apt uses (never written down in the repository).
debian_mirror() {
  local uri=""
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [[ -z $uri && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list)
  fi
  [[ -n $uri ]] || { echo "no Debian bookworm mirror in /etc/apt" >&2; return 1; }
  echo "$uri"
}

make_rootfs() {
  local rootfs=$images_dir/rootfs-bookworm
  if [[ -f $rootfs/.texpipe-base-done ]]; then
    echo "    base rootfs already in $rootfs" >&2
    return 0
  fi
  rm -rf "$rootfs"
  mkdir -p "$images_dir"
  local mirror
  mirror=$(debian_mirror)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$images_dir/debootstrap.log" 2>&1 || {
    tail -20 "$images_dir/debootstrap.log" >&2
    return 1
  }
  # Builds inside the image reach PyPI and Debian through this machine's network, so the image
  # trusts what the machine trusts (an egress proxy's CA, if any) and uses the same apt sources.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  fi
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    rm -f "$rootfs/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
  fi
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
  touch "$rootfs/.texpipe-base-done"
}

import_base() {
  local rootfs=$images_dir/rootfs-bookworm
  local stamp=$images_dir/base-imported
  if [[ -f $stamp && $stamp -nt $rootfs/.texpipe-base-done ]] &&
    "${podman[@]}" image exists "$base_image"; then
    echo "    $base_image already imported" >&2
    return 0
  fi
  tar --exclude=./.texpipe-base-done -C "$rootfs" -c . |
    "${podman[@]}" import --quiet --change 'CMD ["python3"]' - "$base_image" >/dev/null
  touch "$stamp"
}

build_image() {
  local svc=$1
  # --format docker keeps HEALTHCHECK (the OCI image format has no such field).
  # --layers=false: with the vfs driver every cached step, even an ENV, is a full copy of the
  # file system (~7.7 GB for the compiler, whose TeX Live fills the disk in a dozen steps), so
  # each stage is built in one working container and committed once, without a layer cache.
  "${podman[@]}" build --format docker --isolation=chroot --pull=never --layers=false \
    --build-arg "BASE_IMAGE=$base_image" \
    -f "services/$svc/Dockerfile" -t "localhost/texpipe-$svc:$tag" . \
    >"$images_dir/build-$svc.log" 2>&1 || {
    tail -30 "$images_dir/build-$svc.log" >&2
    return 1
  }
  "${podman[@]}" image inspect --format "    localhost/texpipe-$svc:$tag {{.Size}} bytes" \
    "localhost/texpipe-$svc:$tag" >&2
}

run_check() {
  local flags=(--tag "$tag")
  [[ ${IMAGES_REQUIRE_COMPILE:-0} == 1 ]] && flags+=(--require-compile)
  .venv/bin/python scripts/images/run_check.py "${flags[@]}"
}

step "root" require_root
step "install podman, debootstrap, runc (apt)" install_packages
step "debootstrap Debian bookworm into $images_dir" make_rootfs
step "import the base as $base_image" import_base
for svc in "${services[@]}"; do
  step "build localhost/texpipe-$svc:$tag" build_image "$svc"
done
if [[ ${IMAGES_SKIP_RUN:-0} != 1 ]]; then
  step "run the images against the local servers until /health answers" run_check
fi
echo "images: done" >&2
