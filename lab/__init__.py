"""nomad-weave-lab: the article "Nomad workloads on a Weave overlay" as a repeatable test suite."""
__version__ = "0.1.0"
