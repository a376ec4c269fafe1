"""The README's two opening commands are the ones CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def opening_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)[:2]


def test_readme_starts_with_launch_and_test_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.index("```bash")
    assert text[:first_block].count("\n") <= 2
    launch, tests = opening_commands()
    assert launch.endswith("python main.py")
    assert tests.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = opening_commands()
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_exit_code_table_lists_the_codes_and_commands_of_exit_codes_py():
    """The README's exit-code table may say more than ``exit_codes.TABLE`` but lists the same codes, and
    each row names every command the table names for that code."""
    from dit360_desktop.cli.exit_codes import TABLE

    text = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", text, flags=re.M))
    assert [int(code) for code in rows] == [code for code, _meaning in TABLE]
    for code, meaning in TABLE:
        for command in re.findall(r"`([^`]+)`", meaning):
            assert f"`{command}`" in rows[str(code)], (code, command)
