"""One app per user: a second launch wakes the first and exits; a crashed owner's lock is taken over."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from dit360_desktop import paths
from dit360_desktop.ui.single_instance import LOCK_FILE, SingleInstance, server_name_for

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["PYTHONPATH"] = str(REPO)
    return env


def _instance() -> SingleInstance:
    return SingleInstance(paths.config_dir(), server_name_for(paths.config_dir()))


def _wait_for(qtbot, process: subprocess.Popen, timeout_s: float = 60) -> int:
    qtbot.waitUntil(lambda: process.poll() is not None, timeout=int(timeout_s * 1000))
    return process.returncode


def test_second_launch_wakes_the_first_and_exits(qtbot, tmp_path: Path) -> None:
    first = _instance()
    assert first.acquire()
    try:
        picture = tmp_path / "photo.png"
        with qtbot.waitSignal(first.activation_requested, timeout=60_000) as woke:
            second = subprocess.Popen([sys.executable, str(REPO / "main.py"), str(picture)], env=_env())
            code = _wait_for(qtbot, second)
        assert code == 0
        assert woke.args == [[str(picture.resolve())]]
        # The second launch never took the lock.
        assert _instance().acquire() is False
    finally:
        first.release()


def test_the_lock_is_free_again_after_a_clean_release(qtbot) -> None:
    first = _instance()
    assert first.acquire()
    first.release()
    again = _instance()
    assert again.acquire()
    again.release()


def test_stale_lock_from_a_crashed_instance_is_recovered(qtbot) -> None:
    # A real process takes the lock and listens, then dies without releasing anything (like a crash).
    crash = textwrap.dedent(
        """
        import os, sys
        from PySide6.QtCore import QCoreApplication
        from dit360_desktop import paths
        from dit360_desktop.ui.single_instance import SingleInstance, server_name_for
        app = QCoreApplication([])
        instance = SingleInstance(paths.config_dir(), server_name_for(paths.config_dir()))
        assert instance.acquire()
        print(os.getpid(), flush=True)
        os._exit(0)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", crash], env=_env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    dead_pid = int(out.stdout.strip())
    lock_file = paths.config_dir() / LOCK_FILE
    assert lock_file.read_text().splitlines()[0] == str(dead_pid), "the crashed process left its lock behind"

    recovered = _instance()
    assert recovered.acquire(), "a lock whose owner is dead must be taken over"
    try:
        assert lock_file.read_text().splitlines()[0] == str(os.getpid())
        # The crashed owner's socket was replaced too: a new launch reaches this instance.
        with qtbot.waitSignal(recovered.activation_requested, timeout=60_000):
            second = subprocess.Popen([sys.executable, str(REPO / "main.py")], env=_env())
            assert _wait_for(qtbot, second) == 0
    finally:
        recovered.release()


def test_a_live_lock_holder_is_respected(qtbot) -> None:
    holder_script = textwrap.dedent(
        """
        import sys, time
        from PySide6.QtCore import QCoreApplication
        from dit360_desktop import paths
        from dit360_desktop.ui.single_instance import SingleInstance, server_name_for
        app = QCoreApplication([])
        instance = SingleInstance(paths.config_dir(), server_name_for(paths.config_dir()))
        print(instance.acquire(), flush=True)
        sys.stdin.readline()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_script],
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "True"
        assert _instance().acquire() is False
    finally:
        holder.communicate("\n", timeout=30)


def test_each_settings_folder_has_its_own_server_name(tmp_path: Path) -> None:
    assert server_name_for(tmp_path / "a") != server_name_for(tmp_path / "b")
    assert server_name_for(tmp_path / "a") == server_name_for(tmp_path / "a")
    # Unix socket paths are limited to ~100 bytes; the name must stay short whatever the folder.
    assert len(server_name_for(tmp_path / ("x" * 200))) < 40


def test_malformed_activation_message_is_ignored(qtbot) -> None:
    from PySide6.QtNetwork import QLocalSocket

    first = _instance()
    assert first.acquire()
    try:
        received = []
        first.activation_requested.connect(received.append)
        socket = QLocalSocket()
        socket.connectToServer(first.server_name)
        qtbot.waitUntil(lambda: socket.state() == QLocalSocket.LocalSocketState.ConnectedState)
        socket.write(b"{this is not json\n")
        socket.flush()
        deadline = time.monotonic() + 0.5
        qtbot.waitUntil(lambda: time.monotonic() > deadline)
        assert received == []
        # The server stays usable for a well-formed message afterwards.
        with qtbot.waitSignal(first.activation_requested, timeout=60_000):
            second = subprocess.Popen([sys.executable, str(REPO / "main.py")], env=_env())
            assert _wait_for(qtbot, second) == 0
    finally:
        first.release()
