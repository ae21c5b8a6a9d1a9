#!/usr/bin/env bash
# The lab's test images, built offline from the node's busybox-static (no registry needed):
#   nomad-weave-lab/busybox:1            the article's `busybox`
#   nomad-weave-lab/httpbackend:v1.0.0   stands in for bigwhite/httpbackendservice:v1.0.0:
#                                        answers "this is httpbackendservice, version: v1.0.0"
#                                        over HTTP on port 8081
#
#   images.sh              make sure Docker has both images: an image whose recipe label matches
#                          is left alone; one baked into the box (below) is imported; otherwise
#                          it is built here
#   images.sh --save DIR   only write each image's filesystem as DIR/<name>-<recipe>.tar (the box
#                          build runs this in its chroot, where there is no Docker)
#
# The recipe is a hash of busybox and this script, so a baked tar is used only for exactly the
# images this script would build. The libvirt box imports its tars at boot
# (nomad-weave-lab-images.service runs this script); the provisioner then finds them in place.
set -euo pipefail

save_dir=""
case "${1:-}" in
  --save) save_dir=${2:?usage: images.sh [--save DIR]} ;;
  "") ;;
  *) echo "usage: images.sh [--save DIR]" >&2; exit 2 ;;
esac

busybox=$(command -v busybox) || { echo "images.sh: busybox (Debian's busybox-static) is missing" >&2; exit 1; }
body="this is httpbackendservice, version: v1.0.0"
recipe=$(cat "$busybox" "$0" | sha256sum | cut -c1-16)
baked=/var/lib/nomad-weave-lab/images
changed=()

# The boot unit and the provisioner may run at once: one after the other, the second finds the images.
if [ -z "$save_dir" ]; then
  exec 9>/run/nomad-weave-lab-images.lock
  flock 9
fi

image_recipe() {
  docker image inspect --format '{{ index .Config.Labels "nomad-weave-lab.recipe" }}' "$1" 2>/dev/null || true
}

# rootfs_tar INDEX_HTML: the image's filesystem as a tar on stdout.
rootfs_tar() {
  local index_html=$1 root
  root=$(mktemp -d)
  chmod 0755 "$root"
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/www"
  cp "$busybox" "$root/bin/busybox"
  # Run inside the image's root, busybox links its applets to /bin/busybox: one process, where
  # relinking ~270 links one `ln` at a time cost most of a minute under software emulation.
  chroot "$root" /bin/busybox --install -s /bin
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  [ -z "$index_html" ] || echo "$index_html" >"$root/www/index.html"
  tar -C "$root" --numeric-owner -c .
  rm -rf "$root"
}

image() {
  local tag=$1 cmd=$2 index_html=$3 file
  file="${tag//[\/:]/_}-$recipe.tar"
  if [ -n "$save_dir" ]; then
    mkdir -p "$save_dir"
    rootfs_tar "$index_html" >"$save_dir/$file"
    changed+=("$save_dir/$file")
    return
  fi
  if [ "$(image_recipe "$tag")" = "$recipe" ]; then
    return
  fi
  if [ -f "$baked/$file" ]; then
    docker import --change "CMD $cmd" --change "LABEL nomad-weave-lab.recipe=$recipe" "$baked/$file" "$tag" >/dev/null
    changed+=("$tag (imported from the box)")
  else
    rootfs_tar "$index_html" | docker import \
      --change "CMD $cmd" \
      --change "LABEL nomad-weave-lab.recipe=$recipe" \
      - "$tag" >/dev/null
    changed+=("$tag (built)")
  fi
}

image nomad-weave-lab/busybox:1 '["/bin/sh"]' ""
image nomad-weave-lab/httpbackend:v1.0.0 '["/bin/httpd", "-f", "-p", "8081", "-h", "/www"]' "$body"

if [ ${#changed[@]} -eq 0 ]; then
  echo "images: unchanged"
elif [ -n "$save_dir" ]; then
  echo "images: saved ${changed[*]}"
else
  echo "images: changed: ${changed[*]}"
fi
