"""Docker image references as lab/versions.yaml pins them."""
from __future__ import annotations

import re

_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# [registry[:port]/]path:tag[@sha256:digest]. The tag is required: the lab saves, loads and runs
# the images by name:tag.
REF = re.compile(rf"(?P<name>(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_PART}(?:/{_PART})*)"
                 rf":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})(?:@sha256:(?P<digest>[0-9a-f]{{64}}))?")
_HUB_PREFIXES = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")


def name_tag(ref: str) -> str:
    """`weaveworks/weave:2.5.1@sha256:...` -> `weaveworks/weave:2.5.1`."""
    return ref.split("@", 1)[0]


def normalise(ref: str) -> str:
    """One spelling per Docker Hub image: without `docker.io/` and `library/`, and without a digest."""
    ref = name_tag(ref)
    for prefix in _HUB_PREFIXES:
        ref = ref.removeprefix(prefix)
    return ref.removeprefix("library/")
