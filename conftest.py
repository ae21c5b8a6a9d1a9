"""The lab's pytest plugin (options --lab-*, fixtures lab/nodes/node/pair/u1/u2/u3, lifecycle)."""
pytest_plugins = ["lab.pytest_plugin"]
