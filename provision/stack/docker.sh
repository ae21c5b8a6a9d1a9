#!/usr/bin/env bash
# Docker engine: present and running; reachable by the weave script's old API version.
set -euo pipefail
stage=$1
# shellcheck source=/dev/null
. "$stage/stack.env"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

command -v dockerd >/dev/null || { echo "docker.sh: Docker is not installed (provision/prereqs.sh installs it)" >&2; exit 1; }

# Weave 2.8.1 and older speak Docker API 1.18; Docker >= 25 refuses clients below 1.24 unless
# its minimum is lowered (weave#4002, moby#46887).
server=$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo 0)
if [ "${WEAVE_API_VERSION:-}" != "" ] && [ "${server%%.*}" -ge 25 ]; then
  dropin=$(mktemp)
  printf '[Service]\nEnvironment=DOCKER_MIN_API_VERSION=%s\n' "$WEAVE_API_VERSION" >"$dropin"
  install_file "$dropin" /etc/systemd/system/docker.service.d/min-api-version.conf 0644
  if [ "$installed" = yes ]; then
    systemctl daemon-reload
    systemctl restart docker
  fi
  rm -f "$dropin"
fi

# Weave 2.8.x programs iptables-legacy (weave#3465): docker must use the same backend.
if [ "${IPTABLES_BACKEND:-legacy}" = legacy ] && [ -x /usr/sbin/iptables-legacy ] \
   && [ "$(readlink -f /usr/sbin/iptables)" != "$(readlink -f /usr/sbin/iptables-legacy)" ]; then
  update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy
  changed+=("iptables -> legacy")
  systemctl restart docker
fi

ensure_service docker no
report docker "$(docker version --format '{{.Server.Version}}')"
