"""The project's own promises: CI runs the README's test command; the stand-in image says what
the article's image said."""
import re
from pathlib import Path

from lab import article

ROOT = Path(__file__).parents[2]


def readme_commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_starts_with_the_two_commands():
    setup_and_run, tests = readme_commands()
    assert setup_and_run.startswith("sudo scripts/setup-host.sh && ") and " -m lab " in setup_and_run
    assert " check" in setup_and_run
    assert "pytest -n 3" in tests


def test_ci_runs_the_readme_test_command():
    _, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(tests)}$", ci, re.M), f"{tests!r} is not a line of .ci/run"


def test_httpbackend_stand_in_answers_like_the_articles_image():
    script = (ROOT / "provision" / "images.sh").read_text()
    assert f'body="{article.SERVICE_BODY}"' in script
    assert f'"-p", "{article.SERVICE_PORT}"' in script
