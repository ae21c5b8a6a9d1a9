#!/usr/bin/env bash
# Weave Net: the `weave` script and its images, loaded from the stage (no registry needed).
# Launching, exposing and resetting are the tests' business (lab/stack/weave.py).
set -euo pipefail
stage=$1
# shellcheck source=/dev/null
. "$stage/stack.env"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

install_file "$stage/artifacts/$WEAVE_SCRIPT" /usr/local/bin/weave 0755
missing_image=no
for image in $WEAVE_IMAGES; do
  docker image inspect "$image" >/dev/null 2>&1 || missing_image=yes
done
if [ "$missing_image" = yes ]; then
  docker load -q -i "$stage/artifacts/$WEAVE_IMAGES_TAR" >/dev/null
  changed+=("loaded $WEAVE_IMAGES")
fi
report weave "$(CHECKPOINT_DISABLE=1 weave version 2>/dev/null | sed -n 's/^weave script //p')"
