#!/usr/bin/env bash
# Make the docker sandbox backend usable on a (fresh) Debian machine, as root: install docker.io and
# debootstrap if missing, start the Docker engine if it is not running, and build the rlvr-sandbox image
# (sandbox/image/build.sh; a no-op when the image exists). Idempotent.
#
# Env: DOCKERD_LOG (default /tmp/dockerd.log), DOCKER_WAIT_SECONDS (default 60), and any arguments are
# passed on to sandbox/image/build.sh (e.g. --force).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DOCKERD_LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
WAIT=${DOCKER_WAIT_SECONDS:-60}

say() { echo "docker-setup: $*"; }
die() { echo "docker-setup: error: $*" >&2; exit 1; }

engine_up() { docker info >/dev/null 2>&1; }

wait_for_engine() {
  local i
  for ((i = 0; i < WAIT; i++)); do
    engine_up && return 0
    # Stop waiting early when the dockerd we started has already died.
    if [[ -n "${1:-}" ]] && ! kill -0 "$1" 2>/dev/null; then return 1; fi
    sleep 1
  done
  return 1
}

# Start dockerd in the background with `$@` as extra flags; succeed once `docker info` answers.
start_dockerd() {
  say "starting dockerd${*:+ $*} (log: $DOCKERD_LOG)"
  nohup dockerd "$@" >>"$DOCKERD_LOG" 2>&1 &
  local pid=$!
  if wait_for_engine "$pid"; then
    say "dockerd is up (pid $pid)"
    return 0
  fi
  say "dockerd $* did not come up; last log lines:"
  tail -n 15 "$DOCKERD_LOG" >&2 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f /var/run/docker.pid
  return 1
}

need_root() { [[ $(id -u) -eq 0 ]] || die "$1 needs root: re-run me as root (or with sudo)"; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap debian-archive-keyring)
if [[ ${#missing[@]} -gt 0 ]]; then
  need_root "installing ${missing[*]}"
  say "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" \
    || { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; } \
    || die "apt-get install ${missing[*]} failed"
else
  say "docker.io and debootstrap are installed"
fi

if engine_up; then
  say "the Docker engine is already running"
elif [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
  need_root "starting the Docker engine"
  say "starting docker with systemctl"
  systemctl start docker || die "systemctl start docker failed (see journalctl -u docker)"
  wait_for_engine || die "docker did not answer within ${WAIT}s after systemctl start docker"
else
  # No init system (a container or CI VM): run dockerd ourselves. The defaults work on a normal kernel;
  # the fallbacks cover kernels or sandboxes without iptables/bridge support or without overlayfs.
  need_root "starting dockerd"
  start_dockerd \
    || start_dockerd --iptables=false --bridge=none \
    || start_dockerd --iptables=false --bridge=none --storage-driver=vfs \
    || die "could not start dockerd (full log: $DOCKERD_LOG)"
fi
docker info --format \
  'docker-setup: engine {{.ServerVersion}}, storage {{.Driver}}, cgroup v{{.CgroupVersion}}' \
  || die "docker info failed after start"

say "building the sandbox image"
"$REPO/sandbox/image/build.sh" "$@" || die "sandbox/image/build.sh failed"
say "done"
