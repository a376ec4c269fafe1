"""One app per user: a lock file decides who runs, a local socket lets a second launch wake the first.

``QLockFile`` writes the owner's PID, app name and host into the file; when that process is gone the lock
is "stale" and the next ``tryLock`` takes it over. A stale-lock time of 0 disables the age test, so a
long-running first instance is never mistaken for a crashed one.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QLockFile, QObject, QThread, Signal

if TYPE_CHECKING:
    from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

LOCK_FILE = "instance.lock"
_CONNECT_TIMEOUT_MS = 500
# The first instance starts listening just after its window is shown; a launch that races it retries.
_CONNECT_ATTEMPTS = 8
_REPLY_TIMEOUT_MS = 2000


def server_name_for(config_dir: Path) -> str:
    """A socket name unique to this user and settings folder, short enough for Unix socket paths."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    digest = hashlib.sha1(f"{user}\0{config_dir.resolve()}".encode()).hexdigest()[:16]
    return f"dit360-desktop-{digest}"


class SingleInstance(QObject):
    # Emitted in the first instance when another launch asks it to come forward; carries that launch's files.
    activation_requested = Signal(list)

    def __init__(self, lock_dir: Path, server_name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        lock_dir.mkdir(parents=True, exist_ok=True)
        self.lock_path = lock_dir / LOCK_FILE
        self.server_name = server_name
        self._lock = QLockFile(str(self.lock_path))
        self._lock.setStaleLockTime(0)
        self._server: QLocalServer | None = None

    def acquire(self, *, listen: bool = True) -> bool:
        """Take the lock (recovering a stale one); False if another instance runs.

        With ``listen=False`` the caller calls ``listen()`` later (the app does, once its window is shown:
        QtNetwork is not needed for the first frame).
        """
        if not self._lock.tryLock(100):
            error = self._lock.error()
            if error == QLockFile.LockError.LockFailedError:
                return False
            raise OSError(f"Could not create the lock file {self.lock_path} ({error.name}).")
        log.info("Holding the instance lock %s", self.lock_path)
        if listen:
            self.listen()
        return True

    def listen(self) -> None:
        """Accept "come forward" messages from later launches."""
        from PySide6.QtNetwork import QLocalServer

        # A crashed instance can leave its Unix socket file behind; listen() would then fail.
        QLocalServer.removeServer(self.server_name)
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self._server.listen(self.server_name):
            log.warning("Single-instance server could not listen: %s", self._server.errorString())
        self._server.newConnection.connect(self._on_connection)

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lock.isLocked():
            self._lock.unlock()

    def _on_connection(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        line = bytes(socket.readLine().data()).decode("utf-8", "replace")
        try:
            message = json.loads(line)
            files = [str(f) for f in message.get("files", [])] if isinstance(message, dict) else []
        except ValueError:
            log.warning("Ignoring a malformed activation message")
            socket.disconnectFromServer()
            return
        socket.write(QByteArray(b"ok\n"))
        socket.flush()
        log.info("Another launch asked this window to come forward")
        self.activation_requested.emit(files)


def notify_running_instance(server_name: str, files: list[str]) -> bool:
    """From a second launch: ask the running instance to come forward. True when it answered."""
    from PySide6.QtNetwork import QLocalSocket

    socket = QLocalSocket()
    for attempt in range(_CONNECT_ATTEMPTS):
        socket.connectToServer(server_name)
        if socket.waitForConnected(_CONNECT_TIMEOUT_MS):
            break
        if attempt + 1 == _CONNECT_ATTEMPTS:
            log.warning("The running instance did not answer: %s", socket.errorString())
            return False
        QThread.msleep(250)
    socket.write(QByteArray(json.dumps({"action": "activate", "files": files}).encode() + b"\n"))
    socket.flush()
    answered = socket.waitForReadyRead(_REPLY_TIMEOUT_MS) and bytes(socket.readAll().data()).startswith(b"ok")
    socket.disconnectFromServer()
    return answered
