"""huggingface_hub's own network switches, set for what the user asked for.

huggingface_hub makes requests of its own to ``constants.ENDPOINT`` (in 1.x, the agent-harness registry
fetched while building the User-Agent of the first call), whatever endpoint the call itself was given.
A studio that points us at a mirror, or works offline, must not see those: with ``--endpoint`` the
library's endpoint becomes the mirror and telemetry is off; commands that never need the hub (generate,
decode, history) run with ``HF_HUB_OFFLINE``. The switches are environment variables read when
huggingface_hub is imported, and module constants once it is, so both are set, and restored afterwards
(tests run many commands in one process).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def network_switches(*, endpoint: str | None = None, offline: bool = False) -> Iterator[None]:
    env: dict[str, str] = {}
    if endpoint:
        env["HF_ENDPOINT"] = endpoint.rstrip("/")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    if env:
        env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    values = {
        "ENDPOINT": env.get("HF_ENDPOINT"),
        # Built from ENDPOINT at import; hf_hub_url only swaps in an endpoint when the two agree.
        "HUGGINGFACE_CO_URL_TEMPLATE": (
            env["HF_ENDPOINT"] + "/{repo_id}/resolve/{revision}/{filename}" if endpoint else None
        ),
        "HF_HUB_OFFLINE": True if offline else None,
        "HF_HUB_DISABLE_TELEMETRY": True if env else None,
    }
    saved_env = {name: os.environ.get(name) for name in env}
    saved_constants = {name: getattr(constants, name) for name in values if constants is not None}
    os.environ.update(env)
    if constants is not None:
        for name, value in values.items():
            if value is not None:
                setattr(constants, name, value)
    try:
        yield
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for name, value in saved_constants.items():
            setattr(constants, name, value)
