"""Hub metadata and auth through huggingface_hub: file lists with sizes and LFS sha256, gated-repo checks.

Every call builds its own ``HfApi(endpoint=...)`` so a mirror can be chosen per call without a restart.
Proxies come from the environment (huggingface_hub's HTTP client honours HTTP(S)_PROXY / NO_PROXY).
Each metadata call is retried with backoff after a transient failure (connection, timeout, 429, 5xx);
answers that another attempt cannot change (401/403, not found) are not.
"""

from __future__ import annotations

import contextlib
import email.utils
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TypeVar

import huggingface_hub
from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from dit360_desktop.models.catalog import Component
from dit360_desktop.models.errors import (
    AuthRequiredError,
    DownloadCancelled,
    NetworkError,
    RemoteNotFoundError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


def _transport_errors() -> tuple[type[BaseException], ...]:
    # huggingface_hub 1.x/2.x talk through httpx2 or httpx, older ones through requests; their transport
    # errors share no base class with OSError.
    errors: list[type[BaseException]] = [OSError]
    for module, name in (
        ("httpx2", "TransportError"),
        ("httpx", "TransportError"),
        ("requests", "ConnectionError"),
    ):
        with contextlib.suppress(ImportError):
            errors.append(getattr(importlib.import_module(module), name))
    return tuple(errors)


def _permanent_transport_errors() -> tuple[type[BaseException], ...]:
    # A URL scheme the client cannot speak, or a request it cannot even form, fails the same way every time.
    errors: list[type[BaseException]] = []
    for module in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            loaded = importlib.import_module(module)
            errors += [loaded.UnsupportedProtocol, loaded.LocalProtocolError]
    with contextlib.suppress(ImportError):
        requests = importlib.import_module("requests")
        errors += [requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL]
    return tuple(errors)


_TRANSPORT_ERRORS = _transport_errors()
_PERMANENT_TRANSPORT_ERRORS = _permanent_transport_errors()
# Any OSError is reported as a network failure, but only a reset, refused or timed-out connection is worth
# another try: a permission or certificate-file error would fail the same way again.
_RETRYABLE_TRANSPORT_ERRORS = (
    ConnectionError,
    TimeoutError,
    *(e for e in _TRANSPORT_ERRORS if e is not OSError),
)
# Not found, gated or disabled: the same request gets the same answer, so it is never retried.
_PERMANENT_HUB_ERRORS = (
    RepositoryNotFoundError,
    RevisionNotFoundError,
    EntryNotFoundError,
    DisabledRepoError,
)

DEFAULT_ENDPOINT = "https://huggingface.co"
TOKEN_SETTINGS_URL = "https://huggingface.co/settings/tokens"


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    sha256: str | None  # LFS files: the sha256 of the content
    git_sha1: str | None  # small non-LFS files: git's blob id, sha1(b"blob <size>\0" + content)


@dataclass(frozen=True)
class RemoteSnapshot:
    component_id: str
    repo_id: str
    commit: str
    files: tuple[RemoteFile, ...]

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class MetadataRetry:
    """How a metadata call (auth check, file list) is retried after a transient failure."""

    attempts: int = 4  # in all, the first one included
    backoff_s: float = 1.0  # doubled after every failed attempt, up to backoff_max_s
    backoff_max_s: float = 8.0
    # A server asking for a longer pause (Retry-After) gets at most this much: the person waiting in the
    # dialog should hear back within a minute rather than after an hour-long rate-limit window.
    retry_after_max_s: float = 60.0

    def delay(self, failures: int, retry_after_s: float | None = None) -> float:
        backoff = min(self.backoff_max_s, self.backoff_s * 2 ** (failures - 1))
        if retry_after_s is None:
            return backoff
        return min(self.retry_after_max_s, max(backoff, retry_after_s))


DEFAULT_METADATA_RETRY = MetadataRetry()


def normalise_endpoint(endpoint: str | None) -> str:
    """The endpoint to use: the argument, else $HF_ENDPOINT, else huggingface.co (no trailing slash)."""
    value = endpoint or huggingface_hub.constants.ENDPOINT or DEFAULT_ENDPOINT
    return value.rstrip("/")


TOKEN_GIVEN, TOKEN_ENV, TOKEN_STORED, TOKEN_NONE = (
    "the token given (--token or the model manager's token field)",
    "$HF_TOKEN",
    "the token stored by `hf auth login`",
    "no token",
)


def token_and_source(token: str | None) -> tuple[str | None, str]:
    """The one token rule for every hub call, metadata and files alike, in the CLI and the app.

    The token given, else ``$HF_TOKEN``, else the one huggingface_hub stores (``hf auth login``); the
    second value names where it came from, for logs that must never show the token itself.
    """
    if token and token.strip():
        return token.strip(), TOKEN_GIVEN
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(name, "").strip()
        if value:
            return value, TOKEN_ENV
    # With the environment empty, huggingface_hub's own lookup is its token file (or a notebook secret).
    stored = huggingface_hub.get_token()
    if stored:
        return stored, TOKEN_STORED
    return None, TOKEN_NONE


def resolve_token(token: str | None) -> str | None:
    """``token_and_source`` without the source."""
    return token_and_source(token)[0]


def file_url(endpoint: str, repo_id: str, commit: str, path: str) -> str:
    return hf_hub_url(repo_id, path, revision=commit, endpoint=normalise_endpoint(endpoint))


def gated_message(component: Component, repo_id: str, *, had_token: bool) -> str:
    first = (
        f"{component.name} ({repo_id}) is gated and your token has not been granted access"
        if had_token
        else f"{component.name} ({repo_id}) is gated and needs a Hugging Face token"
    )
    return (
        f"{first}. Accept the licence ({component.licence}) at {component.licence_url} while logged in, "
        f"create a read token at {TOKEN_SETTINGS_URL}, then enter it in the model manager or pass --token."
    )


def resolve_snapshot(
    component: Component,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    revision: str | None = None,
    retry: MetadataRetry | None = None,
    stop: threading.Event | None = None,
) -> RemoteSnapshot:
    """List the component's files at its pinned or current commit, filtered by the catalog's patterns.

    Tries the catalog's alternative repo ids in turn when a repository is not found. For gated repos the
    access check runs first, before any file moves. Transient failures are retried as ``retry`` says
    (default ``DEFAULT_METADATA_RETRY``); setting ``stop`` ends the wait before a retry with
    ``DownloadCancelled(paused=True)``.
    """
    endpoint = normalise_endpoint(endpoint)
    token = resolve_token(token)
    api = HfApi(endpoint=endpoint)
    calls = _Calls(endpoint, retry or DEFAULT_METADATA_RETRY, stop)
    not_found: list[str] = []
    for repo_id in component.repo_ids:
        try:
            return _snapshot(api, calls, component, repo_id, token, revision or component.revision)
        except (RepositoryNotFoundError, RevisionNotFoundError) as e:
            if isinstance(e, GatedRepoError):
                raise AuthRequiredError(
                    gated_message(component, repo_id, had_token=bool(token)),
                    repo_id=repo_id,
                    licence_url=component.licence_url,
                ) from e
            log.info("%s not found on %s, trying the next alias", repo_id, endpoint)
            not_found.append(repo_id)
            last_error: Exception = e
    raise RemoteNotFoundError(
        f"{' and '.join(not_found)} (revision {revision or component.revision}) was not found on {endpoint}. "
        "Check the endpoint (mirror) setting, or import the files from a folder instead."
    ) from last_error


def _status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None) if response is not None else None


def is_transient(error: BaseException) -> bool:
    """True when another attempt of the same metadata call may succeed."""
    if isinstance(error, (OfflineModeIsEnabled, *_PERMANENT_HUB_ERRORS)):
        return False
    if isinstance(error, HfHubHTTPError):
        status = _status(error)
        # 501: the endpoint (a mirror) does not implement this call at all.
        return status is not None and (status in (408, 429) or (status >= 500 and status != 501))
    if isinstance(error, _PERMANENT_TRANSPORT_ERRORS):
        return False
    return isinstance(error, _RETRYABLE_TRANSPORT_ERRORS)


def retry_after_s(error: BaseException) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` on a 429 or 503), else None."""
    if _status(error) not in (429, 503):
        return None
    value = (error.response.headers.get("Retry-After") or "").strip()  # type: ignore[attr-defined]
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _reason(error: BaseException) -> str:
    status = _status(error)
    if status is not None:
        return f"HTTP {status}"
    return str(error) or type(error).__name__


class _Calls:
    """Runs metadata calls against one endpoint, retrying transient failures with backoff."""

    def __init__(self, endpoint: str, retry: MetadataRetry, stop: threading.Event | None) -> None:
        self.endpoint = endpoint
        self.retry = retry
        self.stop = stop

    def __call__(self, what: str, repo_id: str, call: Callable[[], T]) -> T:
        failures = 0
        while True:
            try:
                return call()
            except Exception as e:
                if not is_transient(e):
                    raise
                failures += 1
                if failures >= self.retry.attempts:
                    raise NetworkError(
                        f"Could not get {what} for {repo_id} from {self.endpoint}: {_reason(e)} "
                        f"({failures} attempts). Check the connection and run the download again; if it "
                        "keeps failing, try later or use another endpoint (mirror)."
                    ) from e
                delay = self.retry.delay(failures, retry_after_s(e))
                log.warning(
                    "Retrying %s for %s from %s in %.1f s: attempt %d of %d failed (%s)",
                    what,
                    repo_id,
                    self.endpoint,
                    delay,
                    failures,
                    self.retry.attempts,
                    _reason(e),
                )
                self._wait(delay, what, repo_id)

    def _wait(self, seconds: float, what: str, repo_id: str) -> None:
        if self.stop is None:
            time.sleep(seconds)
        elif self.stop.wait(seconds):
            raise DownloadCancelled(
                f"Stopped while waiting to retry {what} for {repo_id}; nothing was downloaded. "
                "Start the download again to continue.",
                paused=True,
            )


def _snapshot(
    api: HfApi, calls: _Calls, component: Component, repo_id: str, token: str | None, revision: str
) -> RemoteSnapshot:
    endpoint = api.endpoint
    try:
        if component.gated:
            calls("the access check", repo_id, lambda: api.auth_check(repo_id, token=token or False))
        info = calls(
            "the file list",
            repo_id,
            lambda: api.model_info(repo_id, revision=revision, files_metadata=True, token=token or False),
        )
        commit = info.sha or revision
        wanted = [s for s in info.siblings or () if component.wants(s.rfilename)]
        missing_meta = [s.rfilename for s in wanted if s.size is None]
        meta: dict[str, tuple[int, str | None, str | None]] = {
            s.rfilename: (s.size, s.lfs.sha256 if s.lfs else None, None if s.lfs else s.blob_id)
            for s in wanted
            if s.size is not None
        }
        if missing_meta:
            # Some mirrors drop the blob metadata from model info; paths-info carries it per file.
            entries = calls(
                "the file sizes and hashes",
                repo_id,
                lambda: api.get_paths_info(repo_id, missing_meta, revision=commit, token=token or False),
            )
            for entry in entries:
                if hasattr(entry, "size"):
                    meta[entry.path] = (
                        entry.size,
                        entry.lfs.sha256 if entry.lfs else None,
                        None if entry.lfs else entry.blob_id,
                    )
    except (RepositoryNotFoundError, RevisionNotFoundError):
        raise
    except OfflineModeIsEnabled as e:
        raise NetworkError(
            "HF_HUB_OFFLINE is set, so the hub cannot be reached. Unset it to download, or import the files "
            "from a folder."
        ) from e
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status in (401, 403):
            raise AuthRequiredError(
                f"{endpoint} refused the token for {repo_id} (HTTP {status}). Check that the token is valid "
                f"and has read access; create one at {TOKEN_SETTINGS_URL}.",
                repo_id=repo_id,
                licence_url=component.licence_url,
            ) from e
        raise NetworkError(
            f"{endpoint} answered HTTP {status} for {repo_id}. Try again later or use a mirror."
        ) from e
    except _TRANSPORT_ERRORS as e:
        raise NetworkError(
            f"Could not reach {endpoint} ({e}). Check the connection, proxy or endpoint."
        ) from e
    files = tuple(
        RemoteFile(path=path, size=size, sha256=sha256, git_sha1=sha1)
        for path, (size, sha256, sha1) in sorted(meta.items())
    )
    if not files:
        raise RemoteNotFoundError(
            f"{repo_id} at {commit} on {endpoint} has no files matching the catalog patterns for "
            f"{component.name}. The repository layout may have changed; update the app."
        )
    return RemoteSnapshot(component_id=component.id, repo_id=repo_id, commit=commit, files=files)
