"""Typed errors cross process boundaries (a cluster worker's failure reaches the driver pickled): each one
must come back as the same class with the same sentence and fields, or the driver says the wrong thing."""

from __future__ import annotations

import importlib
import pickle
import pkgutil

import pytest

import dit360_desktop
from dit360_desktop.models.errors import AuthRequiredError, DownloadCancelled
from dit360_desktop.models.pack_manifest import PackDamagedError, PackFormatError
from dit360_desktop.panorama.errors import DamagedFileError, DiT360Error, NotARegularFileError, RequestError

# Errors whose constructor takes more than a sentence.
EXAMPLES = {
    RequestError: lambda: RequestError("--steps", "must be at least 1"),
    DamagedFileError: lambda: DamagedFileError("/m/vae/x.safetensors", "x.safetensors is damaged"),
    NotARegularFileError: lambda: NotARegularFileError("/dev/zero", "a device", action="read"),
    AuthRequiredError: lambda: AuthRequiredError(
        "Accept the licence.", repo_id="a/b", licence_url="https://x"
    ),
    DownloadCancelled: lambda: DownloadCancelled("Download paused.", paused=True),
    PackFormatError: lambda: PackFormatError("The pack needs format 3.", field="format"),
    PackDamagedError: lambda: PackDamagedError("2 files differ.", files=("flux1-dev/vae/x",)),
}


def _every_error_class() -> list[type]:
    # Import the torch-free layers whole so every subclass defined there is known.
    for info in pkgutil.walk_packages(dit360_desktop.__path__, "dit360_desktop."):
        if info.name.split(".")[1] in {"panorama", "models", "history"}:
            importlib.import_module(info.name)
    found, todo = [], [DiT360Error]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__qualname__)


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda c: c.__qualname__)
def test_every_typed_error_survives_pickling(cls: type) -> None:
    make = EXAMPLES.get(cls)
    try:
        error = make() if make is not None else cls("A plain sentence.")
    except TypeError:
        pytest.fail(f"{cls.__qualname__} takes more than a sentence: add an example to EXAMPLES")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is cls and str(back) == str(error)
    assert vars(back) == vars(error)
