#!/usr/bin/env bash
# Nomad server + client, as in the article: bootstrap_expect 3, bound to the host-only address,
# the client fingerprinting the host-only NIC, the docker driver's endpoint as configured.
set -euo pipefail
stage=$1
# shellcheck source=/dev/null
. "$stage/stack.env"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

restart=no
binary_from "$stage/artifacts/$NOMAD_ARTIFACT" nomad /usr/local/bin/nomad
if [ "$installed" = yes ]; then restart=yes; fi
# The host-only NIC's name is only known on the node (eth1 here, enp0s8 on VirtualBox).
hostonly_if=$(ip -o -4 addr show | awk -v ip="$HOSTONLY_IP" '$4 ~ ("^" ip "/") {print $2; exit}')
[ -n "$hostonly_if" ] || { echo "nomad.sh: no interface has $HOSTONLY_IP" >&2; exit 1; }
# One agent config per docker endpoint (the daemon, the weave proxy); the chosen one is active.
# Tests switch endpoints by installing the other one (lab/stack/nomad.py), as the article did.
config=$(mktemp)
for endpoint in docker weave-proxy; do
  sed "s/@HOSTONLY_IF@/$hostonly_if/" "$stage/config/nomad-$endpoint.hcl" >"$config"
  install_file "$config" "/etc/nomad-weave-lab/nomad/agent-$endpoint.hcl" 0640
done
install_file "/etc/nomad-weave-lab/nomad/agent-$NOMAD_ENDPOINT.hcl" /etc/nomad.d/agent.hcl 0640
if [ "$installed" = yes ]; then restart=yes; fi
rm -f "$config"
install_file "$stage/config/nomad.service" /etc/systemd/system/nomad.service 0644
if [ "$installed" = yes ]; then restart=yes; fi
install -d -m 0700 /var/lib/nomad
ensure_service nomad "$restart"
report nomad "$(/usr/local/bin/nomad version | sed -n '1s/^Nomad v\([^ ]*\).*/\1/p')"
