"""Where a worker gets its model: a shared folder every node can read, or the model manager on that node.

Either way the worker checks what it found before it takes a job; a worker whose files fail the check
refuses jobs, and the reason reaches the driver as one sentence. The hub token for fetching travels in
Ray's runtime environment (``TOKEN_ENV``), is read by the model manager like a local ``$HF_TOKEN``, and
is never logged or put in a message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from dit360_desktop.cluster.errors import WorkerRefusedError
from dit360_desktop.panorama.errors import DiT360Error
from dit360_desktop.panorama.options import EngineOptions

log = logging.getLogger(__name__)

TOKEN_ENV = "HF_TOKEN"
ENDPOINT_ENV = "HF_ENDPOINT"


@dataclass(frozen=True)
class PreparedModel:
    base: Path
    # The LoRA a request without ``lora_path`` runs with on this worker: the one installed next to a
    # managed base model; for a shared folder, whatever this node's model manager has (None: base only).
    default_lora: Path | None


@dataclass(frozen=True)
class ModelSource:
    """``model_dir`` set: that folder, read by every worker (NFS, a baked-in image, a PVC). Else each worker
    uses its own model manager: the models already installed in ``models_dir`` (default: that node's
    configured folder), downloaded first when ``fetch`` is set."""

    model_dir: str | None = None
    fetch: bool = False
    models_dir: str | None = None
    endpoint: str | None = None
    # Re-hash the installed files against the registry before the first job (the model manager's
    # "Verify"); a shared folder gets the header check instead, as ``dit360 generate --model`` does.
    verify_hashes: bool = True
    # How every worker builds its engine, as a local run would (a GGUF path must exist on each node).
    engine_options: EngineOptions = field(default_factory=EngineOptions)

    def describe(self) -> str:
        if self.model_dir is not None:
            return f"the shared folder {self.model_dir}"
        return "each worker's model manager" + (" (downloading what is missing)" if self.fetch else "")

    def runtime_env(self, token: str | None) -> dict | None:
        """The env vars the worker processes need; the token only when they will download."""
        env: dict[str, str] = {}
        if self.fetch and token:
            env[TOKEN_ENV] = token
        if self.fetch and self.endpoint:
            env[ENDPOINT_ENV] = self.endpoint
        return {"env_vars": env} if env else None


def prepare_model(source: ModelSource) -> PreparedModel:
    """The model this worker will load; WorkerRefusedError when it is missing or damaged."""
    from dit360_desktop.models.folder_check import ANY_FLUX_SHAPE, check_model_folder

    if source.model_dir is not None:
        folder = Path(source.model_dir).expanduser()
        if not folder.exists():
            raise WorkerRefusedError(f"the shared model folder {folder} does not exist on this node.")
        from dit360_desktop.models.selection import default_lora_path

        prepared = PreparedModel(folder, default_lora_path())
    else:
        prepared = _managed_model(source)
    verdict = check_model_folder(prepared.base, ANY_FLUX_SHAPE)
    if not verdict.ok:
        raise WorkerRefusedError(f"the model in {prepared.base} failed verification: {verdict.reason}")
    return prepared


def _managed_model(source: ModelSource) -> PreparedModel:
    from dit360_desktop.models.catalog import load_catalog
    from dit360_desktop.models.registry import installed_model_paths
    from dit360_desktop.models.verify import OK, verify_installed

    models_dir = Path(source.models_dir).expanduser() if source.models_dir else None
    catalog = load_catalog()
    wanted = [component.id for component in catalog.default_components]
    if source.fetch:
        _download(models_dir, source.endpoint, wanted)
    if source.verify_hashes:
        bad = [c for c in verify_installed(wanted, models_dir, catalog=catalog) if c.status != OK]
        if bad:
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise WorkerRefusedError(
                f"its model files failed verification: {bad[0].component_id}/{bad[0].path}: "
                f"{bad[0].detail or bad[0].status}{more}. Repair them with `dit360 models verify --repair` "
                "on that node."
            )
    installed = installed_model_paths(models_dir)
    if installed is None or installed.base is None:
        raise WorkerRefusedError(
            "FLUX.1-dev is not installed on this node. Install it there (`dit360 models download`), "
            "give a shared folder (--model DIR), or let the workers download it (--fetch-models)."
        )
    return PreparedModel(installed.base, installed.lora)


def _download(models_dir: Path | None, endpoint: str | None, component_ids: list[str]) -> None:
    from dit360_desktop.models.downloads import DownloadManager

    # token=None: the manager reads $HF_TOKEN, which the driver put into this process's runtime env.
    manager = DownloadManager(models_dir, endpoint=endpoint, token=None)
    try:
        report = manager.download(component_ids)
    except DiT360Error as e:
        raise WorkerRefusedError(f"the model could not be downloaded on this node: {e}") from e
    if not report.ok:
        reasons = [f"{name}: {error}" for name, error in report.failures] or report.paused + report.cancelled
        raise WorkerRefusedError(f"the model could not be downloaded on this node: {reasons[0]}")
    log.info("Worker model download: %d file(s), %d bytes", report.files_downloaded, report.bytes_received)
