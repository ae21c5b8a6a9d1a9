#!/usr/bin/env bash
# What the lab needs in a guest before anything else: Docker, busybox-static (the test images),
# dig and curl. The project's libvirt box has them all (nothing happens); a VirtualBox box
# (bento/ubuntu-22.04) gets them from its distribution's archive.
set -euo pipefail
declare -A wanted=([dockerd]=docker.io [busybox]=busybox-static [dig]=dnsutils [curl]=curl)
missing=()
for command in "${!wanted[@]}"; do
  command -v "$command" >/dev/null || missing+=("${wanted[$command]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "prereqs: unchanged"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
systemctl enable --now docker
echo "prereqs: installed ${missing[*]}"
