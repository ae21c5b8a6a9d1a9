#!/usr/bin/env bash
# The lab's test images, built offline from the node's busybox-static (no registry needed):
#   nomad-weave-lab/busybox:1            the article's `busybox`
#   nomad-weave-lab/httpbackend:v1.0.0   stands in for bigwhite/httpbackendservice:v1.0.0:
#                                        answers "this is httpbackendservice, version: v1.0.0"
#                                        over HTTP on port 8081
# Idempotent: an image whose recipe label matches is left alone.
set -euo pipefail

busybox=$(command -v busybox) || { echo "images.sh: busybox (Debian's busybox-static) is missing" >&2; exit 1; }
body="this is httpbackendservice, version: v1.0.0"
recipe=$(cat "$busybox" "$0" | sha256sum | cut -c1-16)
changed=()

image_recipe() {
  docker image inspect --format '{{ index .Config.Labels "nomad-weave-lab.recipe" }}' "$1" 2>/dev/null || true
}

build() {
  local tag=$1 cmd=$2 index_html=$3 root
  if [ "$(image_recipe "$tag")" = "$recipe" ]; then
    return
  fi
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/www"
  cp "$busybox" "$root/bin/busybox"
  "$root/bin/busybox" --install -s "$root/bin"
  # busybox --install links to the binary's absolute path on the node: relink inside the image.
  find "$root/bin" -type l -exec ln -sf /bin/busybox {} \;
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  [ -z "$index_html" ] || echo "$index_html" >"$root/www/index.html"
  tar -C "$root" -c . | docker import \
    --change "CMD $cmd" \
    --change "LABEL nomad-weave-lab.recipe=$recipe" \
    - "$tag" >/dev/null
  rm -rf "$root"
  changed+=("$tag")
}

build nomad-weave-lab/busybox:1 '["/bin/sh"]' ""
build nomad-weave-lab/httpbackend:v1.0.0 '["/bin/httpd", "-f", "-p", "8081", "-h", "/www"]' "$body"

if [ ${#changed[@]} -eq 0 ]; then
  echo "images: unchanged"
else
  echo "images: built ${changed[*]}"
fi
