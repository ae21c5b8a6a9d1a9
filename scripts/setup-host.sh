#!/usr/bin/env bash
# Set up a Debian/Ubuntu host to run the lab with libvirt: Debian packages, then the Python
# package in .venv. Idempotent. The box is built later, on first use (python -m lab prepare/up).
# Installing packages needs root: as root it runs them itself, as anyone else through sudo (asked
# only when a package is missing). The venv belongs to whoever runs the script.
#
#   scripts/setup-host.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  vagrant vagrant-libvirt libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients
  qemu-system-x86 qemu-utils dnsmasq-base iptables
  debootstrap fdisk e2fsprogs
  shellcheck python3-venv git
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "setup-host.sh: installing ${missing[*]} needs root, and sudo is not installed: run it as root" >&2
    exit 1
  fi
}

if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  # Without systemd as PID 1, package scripts would start libvirtd & co through their init
  # scripts, where nothing tracks them. The lab starts what it needs itself and stops it again.
  policy=""
  if [ "$(cat /proc/1/comm 2>/dev/null)" != "systemd" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -z "$policy" ] || as_root rm -f "$policy"
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
echo "==> installing the lab's Python package into .venv"
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
echo "==> ready: .venv/bin/python -m lab check"
