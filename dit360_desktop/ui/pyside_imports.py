"""Imports after PySide6 without PySide6 reading each module's source.

PySide6 replaces ``__import__`` to support ``from __feature__ import snake_case, true_property``, and after
every import it decides whether the module "uses PySide6" by reading the module's whole source file
(``inspect.getsource``) and searching it for that word (``shibokensupport.feature._mod_uses_pyside``).
The generation thread's import of torch, diffusers, transformers and PEFT brings some 3,000 modules:
0.7-1.1 s of its 6-8 s went to those reads, all of it holding the GIL the window needs, and every import
the app makes after the first frame paid it too (issue 21, item 12).

The answer only matters to a module that selects a feature, which neither this app nor its libraries do
(a module that does is marked by PySide6's own ``__feature__`` import, not by this check). It is decided
here from what the module holds instead (a name bound to something from PySide6, which is what a module
that "uses PySide6" has after its top-level imports): the same answer for the app's modules, without
reading a file. A PySide6 without this hook (another version) is left as it is.
"""

from __future__ import annotations

import logging
import sys
from types import ModuleType

log = logging.getLogger(__name__)

FEATURE_MODULE = "shibokensupport.feature"
CHECK = "_mod_uses_pyside"


def holds_pyside(module: ModuleType) -> bool:
    """True when one of the module's top-level names is PySide6 or comes from it."""
    for value in list(vars(module).values()):
        # Only the type is asked, never the object: some objects warn or compute when touched (torch's
        # deprecated ``reduce_op`` warns on any attribute access, ``isinstance`` included).
        kind = type(value)
        if issubclass(kind, ModuleType):
            origin = vars(value).get("__name__", "")
        elif issubclass(kind, type):
            origin = vars(value).get("__module__", "")
        else:
            origin = vars(kind).get("__module__", "")
        if isinstance(origin, str) and origin.startswith(("PySide6", "shiboken6")):
            return True
    return False


def skip_source_reads() -> bool:
    """Replace PySide6's per-import source read with ``holds_pyside``; False where PySide6 has no such
    check (nothing changed). Call once PySide6 is imported."""
    feature = sys.modules.get(FEATURE_MODULE)
    if feature is None or not callable(getattr(feature, CHECK, None)):
        log.debug("PySide6 has no %s.%s here; its import hook is left as it is", FEATURE_MODULE, CHECK)
        return False
    setattr(feature, CHECK, holds_pyside)
    return True
