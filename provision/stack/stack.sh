#!/usr/bin/env bash
# Provision the article's stack on one node from a stage directory prepared by `python -m lab`
# (stack.env, config/, artifacts/, the scripts): each component present in the stage, in order.
# Idempotent: a second run reports every component unchanged.
#
#   stack.sh /tmp/nwl-stage
set -euo pipefail
stage=${1:-/tmp/nwl-stage}
[ -f "$stage/stack.env" ] || { echo "stack.sh: $stage/stack.env is missing" >&2; exit 2; }
# The stage is uploaded afresh each time (Vagrant's file provisioner nests into an existing dir).
trap 'rm -rf "$stage"' EXIT
# shellcheck source=/dev/null
. "$stage/stack.env"
for component in $COMPONENTS; do
  bash "$stage/scripts/$component.sh" "$stage"
done
for line in "${MISSING[@]}"; do
  echo "missing: $line"
done
