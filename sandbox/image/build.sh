#!/usr/bin/env bash
# Build the rlvr-sandbox Docker image locally, without any registry: debootstrap a minimal Debian
# rootfs (python3, gcc, g++, bash), then `docker import` it.
#
# Usage: sandbox/image/build.sh [--force] [--tag NAME] [--mirror URL] [--cache-dir DIR]
#   --force      rebuild the rootfs and re-import even if the image or a cached rootfs exists
#   --tag        image name (default rlvr-sandbox:latest, what rlvr.sandbox's docker backend runs)
#   --mirror     Debian mirror (default: the one apt uses on this machine, else deb.debian.org)
#   --cache-dir  where the rootfs tarball is kept between builds
#                (default $RLVR_SANDBOX_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/rlvr-sandbox)
# Needs root (debootstrap), debootstrap, and a running Docker engine.
set -euo pipefail

SUITE=bookworm
PACKAGES=python3,gcc,g++,libc6-dev,bash,procps
SANDBOX_UID=10001  # the image's default user; the backend runs each container as its own uid
TAG=rlvr-sandbox:latest
FORCE=0
MIRROR=""
CACHE_DIR="${RLVR_SANDBOX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rlvr-sandbox}"

die() { echo "build.sh: error: $*" >&2; exit 1; }
log() { echo "build.sh: $*"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) FORCE=1 ;;
    --tag) TAG="${2:?--tag needs a value}"; shift ;;
    --mirror) MIRROR="${2:?--mirror needs a value}"; shift ;;
    --cache-dir) CACHE_DIR="${2:?--cache-dir needs a value}"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

# The first Debian archive URI apt is configured with (one-line or deb822 format), so the build uses
# the same (possibly local or snapshot) mirror as the rest of the machine.
apt_mirror() {
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] && files+=("$f")
  done
  [[ ${#files[@]} -gt 0 ]] || return 0
  grep -hE '^\s*(deb\s|URIs:)' "${files[@]}" \
    | grep -oE '(https?|file)://[^ ]+' \
    | grep -E '/debian/?$' \
    | head -n1
}

command -v docker >/dev/null || die "docker CLI not found: run .ci/docker-setup.sh (installs docker.io)"
docker info >/dev/null 2>&1 || die "Docker engine not reachable: start dockerd (see .ci/docker-setup.sh)"

if [[ $FORCE -eq 0 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  log "image $TAG already exists; nothing to do (--force rebuilds it)"
  exit 0
fi

# The cache key covers what goes into the rootfs, so changing the package list invalidates it.
RECIPE=$(sed -n '/^# rootfs-recipe-begin/,/^# rootfs-recipe-end/p' "$0")
KEY=$(printf '%s\n' "$SUITE" "$PACKAGES" "$SANDBOX_UID" "$RECIPE" | sha256sum | cut -c1-16)
TARBALL="$CACHE_DIR/rootfs-$SUITE-$KEY.tar"

if [[ $FORCE -eq 1 || ! -s "$TARBALL" ]]; then
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root; re-run as root (or with sudo)"
  command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install -y debootstrap"
  MIRROR="${MIRROR:-$(apt_mirror)}"
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  mkdir -p "$CACHE_DIR"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/rlvr-rootfs.XXXXXX")
  ROOTFS="$WORK/rootfs"
  # A debootstrap that failed midway can leave /proc, /sys or bound device nodes mounted in the
  # rootfs: unmount them, and never let rm cross into another file system.
  cleanup() {
    awk -v root="$ROOTFS/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r \
      | xargs -r -n1 umount -l || true
    rm -rf --one-file-system "$WORK"
  }
  trap cleanup EXIT
  log "debootstrap $SUITE ($PACKAGES) from $MIRROR into $ROOTFS (takes a few minutes)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
# rootfs-recipe-begin
  chroot "$ROOTFS" groupadd --gid "$SANDBOX_UID" sandbox
  chroot "$ROOTFS" useradd --uid "$SANDBOX_UID" --gid "$SANDBOX_UID" --no-create-home \
    --home-dir /work --shell /bin/bash sandbox
  mkdir -p "$ROOTFS/work"
  # Nothing in the sandbox needs package management, caches or docs: drop them to shrink the image.
  rm -rf "${ROOTFS:?}"/var/lib/apt/lists/* "${ROOTFS:?}"/var/cache/apt/* "${ROOTFS:?}"/usr/share/doc/* \
    "${ROOTFS:?}"/usr/share/man/* "${ROOTFS:?}"/usr/share/info/* "${ROOTFS:?}"/usr/share/locale/*
  # Device nodes and host-specific files come from Docker at run time, not from the rootfs.
  rm -rf --one-file-system "${ROOTFS:?}"/dev/* "${ROOTFS:?}"/proc/* "${ROOTFS:?}"/sys/* \
    "${ROOTFS:?}"/etc/hostname "${ROOTFS:?}"/etc/resolv.conf
# rootfs-recipe-end
  log "writing rootfs tarball $TARBALL"
  tar --numeric-owner -C "$ROOTFS" -cf "$TARBALL.partial" .
  mv "$TARBALL.partial" "$TARBALL"
else
  log "using cached rootfs $TARBALL"
fi

log "importing $TARBALL as $TAG"
docker import \
  --change "USER $SANDBOX_UID:$SANDBOX_UID" \
  --change "WORKDIR /work" \
  --change "ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8" \
  --change 'CMD ["/bin/bash"]' \
  --change "LABEL org.rlvr.sandbox.rootfs=$KEY" \
  "$TARBALL" "$TAG" >/dev/null
docker run --rm --network none "$TAG" \
  python3 -c 'import sys; print("build.sh: python", sys.version.split()[0])'
log "built $TAG"
