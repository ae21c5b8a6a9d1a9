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
# An image counts as there only under the ID the staged tar gives it: the same tag from another
# build (another cache, another profile) is replaced. The lab leaves the tar out of the stage of a
# node that already has every image (lab/stage.py leave_out_images_present).
missing_image=no
for pair in $WEAVE_IMAGE_IDS; do
  image=${pair%=*}
  [ "$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null)" = "${pair##*=}" ] || missing_image=yes
done
if [ "$missing_image" = yes ]; then
  if [ ! -f "$stage/artifacts/$WEAVE_IMAGES_TAR" ]; then
    echo "weave.sh: the weave images changed on this node since the lab looked (it staged no $WEAVE_IMAGES_TAR):" \
         "provision again (python -m lab provision)" >&2
    exit 1
  fi
  docker load -q -i "$stage/artifacts/$WEAVE_IMAGES_TAR" >/dev/null
  changed+=("loaded $WEAVE_IMAGES")
fi
report weave "$(CHECKPOINT_DISABLE=1 weave version 2>/dev/null | sed -n 's/^weave script //p')"
