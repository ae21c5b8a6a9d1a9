#!/usr/bin/env bash
# Base network identity of one lab node, as in the article's section 1: its hostname, the
# u1/u2/u3 entries in /etc/hosts, and the NAT network (static address, default route).
# Idempotent: a second run changes nothing and says so.
#
#   base.sh --name u1 --hosts u1=192.168.56.3,u2=192.168.56.4,u3=192.168.56.5 \
#           --nat-mac 52:54:00:6e:02:0a --nat-address 10.0.3.15/24 --nat-gateway 10.0.3.1
set -euo pipefail

usage() { echo "usage: $0 --name NAME --hosts N=IP,... --nat-mac MAC --nat-address IP/PREFIX --nat-gateway IP" >&2; exit 2; }
name="" hosts="" nat_mac="" nat_address="" nat_gateway=""
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=$2 ;;
    --hosts) hosts=$2 ;;
    --nat-mac) nat_mac=${2,,} ;;
    --nat-address) nat_address=$2 ;;
    --nat-gateway) nat_gateway=$2 ;;
    *) usage ;;
  esac
  shift 2 || usage
done
for value in "$name" "$hosts" "$nat_mac" "$nat_address" "$nat_gateway"; do [ -n "$value" ] || usage; done

changed=()

# Hostname.
if [ "$(cat /etc/hostname 2>/dev/null)" != "$name" ] || [ "$(hostname)" != "$name" ]; then
  echo "$name" >/etc/hostname
  hostname "$name"
  changed+=(hostname)
fi

# /etc/hosts: the nodes by their host-only addresses. A 127.0.1.1 alias of our own name would
# shadow that, so it goes.
block=$(printf '# nomad-weave-lab nodes\n'; tr ',' '\n' <<<"$hosts" | awk -F= '{print $2" "$1}'; printf '# end nomad-weave-lab nodes')
wanted=$( { sed -e '/^# nomad-weave-lab nodes$/,/^# end nomad-weave-lab nodes$/d' -e '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts; echo "$block"; } )
if [ "$wanted" != "$(cat /etc/hosts)" ]; then
  echo "$wanted" >/etc/hosts
  changed+=(/etc/hosts)
fi

# NAT network: found by MAC, so it does not matter whether the guest calls it eth1 or enp0s8.
nat_if=$(ip -o link | awk -v mac="$nat_mac" 'tolower($0) ~ ("link/ether " mac) {sub(/:$/, "", $2); sub(/@.*/, "", $2); print $2}')
[ -n "$nat_if" ] || { echo "base.sh: no interface with MAC $nat_mac (the NAT network's NIC)" >&2; exit 1; }

if [ -d /etc/netplan ]; then
  persist=/etc/netplan/60-nomad-weave-lab-nat.yaml
  content="network:
  version: 2
  ethernets:
    lab-nat:
      match: {macaddress: \"$nat_mac\"}
      addresses: [$nat_address]
      routes: [{to: default, via: $nat_gateway, metric: 10}]"
else
  persist=/etc/network/interfaces.d/nomad-weave-lab-nat
  content="auto $nat_if
iface $nat_if inet static
    address $nat_address
    gateway $nat_gateway"
fi
if [ "$content" != "$(cat "$persist" 2>/dev/null)" ]; then
  install -D -m 0600 /dev/null "$persist"
  echo "$content" >"$persist"
  changed+=("$persist")
fi

ip link set "$nat_if" up
if ! ip -4 -o addr show dev "$nat_if" | grep -q " ${nat_address} "; then
  ip addr replace "$nat_address" dev "$nat_if"
  changed+=("address $nat_address on $nat_if")
fi
# The NAT network carries the default route (the article: `default via <NAT gateway>`).
first_default=$(ip -4 route show default | head -n 1)
if [[ "$first_default" != "default via $nat_gateway dev $nat_if"* ]]; then
  ip route replace default via "$nat_gateway" dev "$nat_if" metric 10
  changed+=("default route via $nat_gateway")
fi

# Traffic for the overlay's range that has no better route (a host before `weave expose`, a
# container pinging across subnets through docker0) would take the default route out of the
# NAT network; on VirtualBox that means onto the workstation's network. It stops here instead.
overlay=10.32.0.0/12
iptables -N DOCKER-USER 2>/dev/null || true
for chain in OUTPUT DOCKER-USER; do
  if ! iptables -C "$chain" -o "$nat_if" -d "$overlay" -j REJECT 2>/dev/null; then
    iptables -I "$chain" -o "$nat_if" -d "$overlay" -j REJECT
    changed+=("$chain: reject $overlay via $nat_if")
  fi
done

if [ ${#changed[@]} -eq 0 ]; then
  echo "base: $name unchanged"
else
  echo "base: $name changed: ${changed[*]}"
fi
