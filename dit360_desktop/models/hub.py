"""Hub metadata and auth through huggingface_hub: file lists with sizes and LFS sha256, gated-repo checks.

Every call builds its own ``HfApi(endpoint=...)`` so a mirror can be chosen per call without a restart.
Proxies come from the environment (huggingface_hub's HTTP client honours HTTP(S)_PROXY / NO_PROXY).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from dataclasses import dataclass

import huggingface_hub
from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from dit360_desktop.models.catalog import Component
from dit360_desktop.models.errors import AuthRequiredError, NetworkError, RemoteNotFoundError

log = logging.getLogger(__name__)


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


_TRANSPORT_ERRORS = _transport_errors()

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


def normalise_endpoint(endpoint: str | None) -> str:
    """The endpoint to use: the argument, else $HF_ENDPOINT, else huggingface.co (no trailing slash)."""
    value = endpoint or huggingface_hub.constants.ENDPOINT or DEFAULT_ENDPOINT
    return value.rstrip("/")


def resolve_token(token: str | None) -> str | None:
    """An entered token, else the one huggingface_hub stores (``hf auth login`` or $HF_TOKEN)."""
    return token or huggingface_hub.get_token()


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
) -> RemoteSnapshot:
    """List the component's files at its pinned or current commit, filtered by the catalog's patterns.

    Tries the catalog's alternative repo ids in turn when a repository is not found. For gated repos the
    access check runs first, before any file moves.
    """
    endpoint = normalise_endpoint(endpoint)
    token = resolve_token(token)
    api = HfApi(endpoint=endpoint)
    not_found: list[str] = []
    for repo_id in component.repo_ids:
        try:
            return _snapshot(api, component, repo_id, token, revision or component.revision)
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


def _snapshot(
    api: HfApi, component: Component, repo_id: str, token: str | None, revision: str
) -> RemoteSnapshot:
    endpoint = api.endpoint
    try:
        if component.gated:
            api.auth_check(repo_id, token=token or False)
        info = api.model_info(repo_id, revision=revision, files_metadata=True, token=token or False)
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
            for entry in api.get_paths_info(repo_id, missing_meta, revision=commit, token=token or False):
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
