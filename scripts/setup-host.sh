#!/usr/bin/env bash
# Set up a Debian/Ubuntu host to run the lab with libvirt: Debian packages, then the Python
# package in .venv. Idempotent. The box is built later, on first use (python -m lab prepare/up).
#
#   sudo scripts/setup-host.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  vagrant vagrant-libvirt libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
  qemu-system-x86 qemu-utils dnsmasq-base iptables
  debootstrap fdisk e2fsprogs
  shellcheck python3-venv git
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  # Without systemd as PID 1, package scripts would start libvirtd & co through their init
  # scripts, where nothing tracks them. The lab starts what it needs itself and stops it again.
  policy=""
  if [ "$(cat /proc/1/comm 2>/dev/null)" != "systemd" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$policy" ] || rm -f "$policy"
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
echo "==> installing the lab's Python package into .venv"
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
echo "==> ready: .venv/bin/python -m lab check"
