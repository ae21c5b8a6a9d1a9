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
binary_from "$stage/artifacts/$NOMAD_ARTIFACT" nomad /usr/local/bin/nomad && restart=yes
# The host-only NIC's name is only known on the node (eth1 here, enp0s8 on VirtualBox).
hostonly_if=$(ip -o -4 addr show | awk -v ip="$HOSTONLY_IP" '$4 ~ ("^" ip "/") {print $2; exit}')
[ -n "$hostonly_if" ] || { echo "nomad.sh: no interface has $HOSTONLY_IP" >&2; exit 1; }
config=$(mktemp)
sed "s/@HOSTONLY_IF@/$hostonly_if/" "$stage/config/nomad.hcl" >"$config"
install_file "$config" /etc/nomad.d/agent.hcl 0640 && restart=yes
rm -f "$config"
install_file "$stage/config/nomad.service" /etc/systemd/system/nomad.service 0644 && restart=yes
install -d -m 0700 /var/lib/nomad
ensure_service nomad "$restart"
report nomad "$(/usr/local/bin/nomad version | sed -n '1s/^Nomad v\([^ ]*\).*/\1/p')"
