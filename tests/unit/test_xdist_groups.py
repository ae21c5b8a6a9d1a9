"""The lab's stateful tests share one xdist group so that they run on one worker, in order.

Checked on a real `pytest -n 3 --dist loadgroup` (the README's command), because a pytest and
pytest-xdist pair can silently drop the grouping: pytest 9 with xdist 3.8 ran every test of a
group on another worker at once."""
import subprocess
import sys

GROUPED = '''
import os, pytest
pytestmark = pytest.mark.xdist_group("stack")

def record(name):
    with open(os.environ["RECORD"], "a") as out:
        out.write(f"{name} {os.environ['PYTEST_XDIST_WORKER']}\\n")
''' + "".join(f"\ndef test_{name}():\n    record('{name}')\n" for name in "abcdef")
FREE = "".join(f"\ndef test_free_{n}():\n    pass\n" for n in range(6))


def test_a_group_runs_on_one_worker_in_file_order(tmp_path):
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    (tmp_path / "test_free.py").write_text(FREE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    record = tmp_path / "record.txt"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "3",
                             "--dist", "loadgroup", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                            env={"RECORD": str(record), "PATH": "/usr/bin:/bin"}, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    ran = [line.split() for line in record.read_text().splitlines()]
    assert [name for name, _ in ran] == list("abcdef")
    assert len({worker for _, worker in ran}) == 1, ran
