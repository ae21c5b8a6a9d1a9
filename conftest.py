"""The lab's pytest plugins: lifecycle, options and fixtures; the claims report."""
pytest_plugins = ["lab.pytest_report", "lab.pytest_plugin"]
