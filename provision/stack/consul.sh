#!/usr/bin/env bash
# Consul server, as in the article: three servers, bootstrap_expect 3, DNS on port 53, joined
# over the host-only network. Runs as root (binding port 53), logs to the journal.
set -euo pipefail
stage=$1
# shellcheck source=/dev/null
. "$stage/stack.env"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

restart=no
binary_from "$stage/artifacts/$CONSUL_ARTIFACT" consul /usr/local/bin/consul
if [ "$installed" = yes ]; then restart=yes; fi
install_file "$stage/config/consul.hcl" /etc/consul.d/lab.hcl 0640
if [ "$installed" = yes ]; then restart=yes; fi
install_file "$stage/config/consul.service" /etc/systemd/system/consul.service 0644
if [ "$installed" = yes ]; then restart=yes; fi
install -d -m 0700 /var/lib/consul
ensure_service consul "$restart"

# Name resolution through consul's DNS (the article's /etc/resolv.conf), keeping /etc/hosts
# first (nsswitch "files dns"). dhclient must not rewrite it.
install_file "$stage/config/resolv.conf" /etc/resolv.conf 0644
hook=$(mktemp)
printf '# nomad-weave-lab: /etc/resolv.conf points at the consul servers\nmake_resolv_conf() { :; }\n' >"$hook"
install_file "$hook" /etc/dhcp/dhclient-enter-hooks.d/nomad-weave-lab 0644
rm -f "$hook"
report consul "$(/usr/local/bin/consul version | sed -n '1s/^Consul v//p')"
