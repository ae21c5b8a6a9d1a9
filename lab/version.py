"""Comparing the dotted versions of lab/versions.yaml ("0.8.7" < "1.11.3")."""


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3] if part.isdigit())
