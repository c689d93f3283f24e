"""How the ``hybridock`` process ends: the console entry (``main()`` with the process's own
argv) leaves without the interpreter's teardown, keeping exit codes, output, exit handlers and
other threads' work; any other call of ``main`` is click's own and returns to its caller."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# A module global whose finalizer runs in the interpreter's teardown, and only there.
WITNESS = """
import sys
class Witness:
    def __del__(self):
        sys.stderr.write("torn down\\n")
sys.modules["witness"] = Witness()
"""


def entry(tmp_path: Path, *argv: str, before: str = "") -> subprocess.CompletedProcess[str]:
    """``main()`` as the console script calls it, after ``before``."""
    script = textwrap.dedent(before) + (
        f"\nimport sys\nsys.argv = {['hybridock', *argv]!r}\n"
        "from hybridock.cli.main import main\nmain()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        env={"HYBRIDOCK_ROOT": str(tmp_path / "root"), "HYBRIDOCK_CONFIG": "/dev/null/none"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_console_entry_skips_the_teardown(tmp_path: Path) -> None:
    result = entry(tmp_path, "--version", before=WITNESS)
    assert (result.returncode, result.stdout) == (0, "hybridock, version 0.1.0\n")
    assert "torn down" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (("nosuch",), 2, "No such command 'nosuch'"),
        (("--root", "/proc/1/nonexistent", "ps"), 1, "Error: cannot create the store"),
    ],
    ids=["usage", "our error"],
)
def test_the_console_entry_keeps_the_exit_code(
    tmp_path: Path, argv: tuple[str, ...], code: int, message: str
) -> None:
    result = entry(tmp_path, *argv)
    assert result.returncode == code, result.stderr
    assert message in result.stderr


def test_exit_handlers_run_and_output_is_flushed(tmp_path: Path) -> None:
    handler = 'import atexit\natexit.register(lambda: print("handler ran", flush=True))\n'
    result = entry(tmp_path, "--version", before=handler)
    assert (result.returncode, result.stdout) == (0, "hybridock, version 0.1.0\nhandler ran\n")


def test_a_running_thread_gets_the_ordinary_exit(tmp_path: Path) -> None:
    thread = (
        "import threading, time\n"
        'threading.Thread(target=lambda: (time.sleep(0.2), print("thread done"))).start()\n'
    )
    result = entry(tmp_path, "--version", before=WITNESS + thread)
    assert result.stdout == "hybridock, version 0.1.0\nthread done\n"
    assert "torn down" in result.stderr


def test_main_with_arguments_returns_to_its_caller(tmp_path: Path) -> None:
    script = (
        "from hybridock.cli.main import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as leaving:\n"
        "    print('still here', leaving.code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout == "hybridock, version 0.1.0\nstill here 0\n"
