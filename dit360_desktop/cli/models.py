"""``dit360 models``: list, download, verify, import and locate the models, headless.

Exit codes: 0 ok, 2 usage, 3 auth or licence, 4 verification failed, 5 network, 6 disk full, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from dit360_desktop.cli import exit_codes
from dit360_desktop.cli.exit_codes import BAD_INPUT, INTERRUPTED, VERIFY, exit_code_for
from dit360_desktop.models import hub
from dit360_desktop.models.catalog import load_catalog
from dit360_desktop.models.downloads import (
    DONE,
    DOWNLOADING,
    FAILED,
    DownloadManager,
    DownloadReport,
    FileProgress,
)
from dit360_desktop.models.errors import (
    AuthRequiredError,
    DiskFullError,
    NetworkError,
    VerificationError,
)
from dit360_desktop.models.fsutil import format_bytes
from dit360_desktop.models.importer import COPY, IN_PLACE, ImportProgress, import_model
from dit360_desktop.models.location import configured_models_dir, hf_hub_cache_dir, resolve_models_dir
from dit360_desktop.models.pack import PackProgress, import_pack, make_pack
from dit360_desktop.models.pack_manifest import is_pack
from dit360_desktop.models.registry import damaged_entries
from dit360_desktop.models.status import component_statuses, disk_usage
from dit360_desktop.models.transfer import TransferSettings
from dit360_desktop.models.verify import OK, VerifyProgress, repair, split_repairable, verify_installed
from dit360_desktop.panorama.errors import DiT360Error

log = logging.getLogger(__name__)

# When several files fail for different reasons, report the one the user must act on first.
_PRIORITY = (DiskFullError, AuthRequiredError, VerificationError, NetworkError)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def http_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"must be an http:// or https:// URL, got {text!r}")
    return text.strip()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models", help="list, download, verify and import models", description=__doc__
    )
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser, *, network: bool = False) -> None:
        p.add_argument(
            "--models-dir", type=Path, default=None, help="models folder (default: the configured one)"
        )
        if network:
            p.add_argument(
                "--endpoint",
                type=http_url,
                default=None,
                help="hub endpoint or mirror URL, http(s):// (default: $HF_ENDPOINT)",
            )
            p.add_argument(
                "--token", default=None, help="Hugging Face token (default: the stored token or $HF_TOKEN)"
            )
            p.add_argument("--parallel", type=int, default=3, choices=range(1, 5), metavar="1-4")
            p.add_argument(
                "--stall-timeout", type=positive_seconds, default=30.0, help="seconds without data = stalled"
            )
            p.add_argument(
                "--retries",
                type=non_negative_int,
                default=5,
                help="retries after a transient failure, for each file and each metadata call (default 5)",
            )

    p_list = sub.add_parser("list", help="components, tiers, state, sizes and where they are")
    common(p_list)
    p_list.set_defaults(handler=cmd_list)

    p_download = sub.add_parser("download", help="download components (resumes what was left)")
    p_download.add_argument("components", nargs="*", metavar="COMPONENT")
    common(p_download, network=True)
    p_download.set_defaults(handler=cmd_download)

    p_verify = sub.add_parser("verify", help="re-hash installed files; --repair re-downloads bad ones")
    p_verify.add_argument("--repair", action="store_true")
    p_verify.add_argument("components", nargs="*", metavar="COMPONENT")
    common(p_verify, network=True)
    p_verify.set_defaults(handler=cmd_verify)

    p_import = sub.add_parser(
        "import", help="import a diffusers folder, HF cache, LoRA file, Depth Anything or Redux folder"
    )
    p_import.add_argument("path", type=Path)
    mode = p_import.add_mutually_exclusive_group()
    mode.add_argument(
        "--copy", dest="mode", action="store_const", const=COPY, help="copy into the models folder"
    )
    mode.add_argument(
        "--in-place", dest="mode", action="store_const", const=IN_PLACE, help="use it where it is"
    )
    p_import.set_defaults(mode=COPY)
    common(p_import)
    p_import.set_defaults(handler=cmd_import)

    p_pack = sub.add_parser(
        "pack", help="write the installed models to a folder, with a manifest, for offline machines"
    )
    p_pack.add_argument("components", nargs="*", metavar="COMPONENT", help="default: all complete ones")
    p_pack.add_argument("--output", type=Path, required=True, help="a new or empty folder (e.g. on a drive)")
    common(p_pack)
    p_pack.set_defaults(handler=cmd_pack)

    p_where = sub.add_parser("where", help="where models are kept and found")
    common(p_where)
    p_where.set_defaults(handler=cmd_where)


def _fail(error: BaseException, stream: TextIO) -> int:
    return exit_codes.report(error, stream=stream)


def _report_code(report: DownloadReport, stream: TextIO, shown: set[str] | None = None) -> int:
    """Report each failure once (``shown``: messages the progress printer already wrote) and pick the
    exit code of the one to act on first."""
    for label, error in report.failures:
        text = str(error)
        if shown is not None and text in shown:
            continue
        # Most messages already start with the file's label; do not say it twice.
        stream.write(f"failed: {text}\n" if label in text else f"failed: {label}: {text}\n")
    for kind in _PRIORITY:
        for _label, error in report.failures:
            if isinstance(error, kind):
                return exit_code_for(error)
    if report.failures:
        return exit_code_for(report.failures[0][1])
    if report.paused or report.cancelled:
        return INTERRUPTED
    return exit_codes.OK


def cmd_list(args: argparse.Namespace) -> int:
    out = sys.stdout
    catalog = load_catalog()
    models_dir = resolve_models_dir(args.models_dir)
    out.write(f"Models folder: {models_dir}\n\n")
    # The longest ids (the metric depth models) would push their rows out of line with a fixed column.
    id_width = max(32, *(len(c.id) + 1 for c in catalog.components))
    for status in component_statuses(models_dir, catalog):
        c = status.component
        size = (
            format_bytes(status.installed_bytes)
            if status.installed_bytes
            else f"~{format_bytes(c.approx_size_bytes)}"
        )
        gated = ", gated" if c.gated else ""
        out.write(f"{c.id:{id_width}} {status.state:18} {size:>10}  {c.repo_id}{gated}\n")
        out.write(f"{'':{id_width}} {c.name}; tiers: {', '.join(c.tiers)}; licence: {c.licence}\n")
        if status.path is not None:
            out.write(f"{'':{id_width}} at {status.path}\n")
        if status.partial_bytes:
            out.write(f"{'':{id_width}} {format_bytes(status.partial_bytes)} downloaded so far\n")
        for problem in status.problems:
            out.write(f"{'':{id_width}} damaged: {problem} (run 'dit360 models verify --repair')\n")
    for component_id, reason in damaged_entries(models_dir).items():
        out.write(
            f"{component_id:{id_width}} damaged registry entry: {reason} (import or download it again)\n"
        )
    out.write("\nTiers:\n")
    for tier in catalog.tiers:
        out.write(f"  {tier.id:10} {tier.status:10} {tier.name}: {', '.join(tier.components)}\n")
    return exit_codes.OK


class _DownloadPrinter:
    """One status line for the whole download on a terminal; a line every few seconds otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.files: dict[tuple[str, str], FileProgress] = {}
        # A file goes done -> verifying -> done when its component is checked, and a component failure
        # arrives once per file: each final line is written once.
        self.shown: set[str] = set()
        self._done: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._last = 0.0

    def __call__(self, event: FileProgress) -> None:
        with self._lock:
            key = (event.component_id, event.path)
            previous = self.files.get(key)
            self.files[key] = event
            changed = previous is None or previous.state != event.state
            if changed and event.state == FAILED and event.message not in self.shown:
                self.shown.add(event.message)
                where = f"{event.component_id}/{event.path}"
                text = event.message if event.path in event.message else f"{where}: {event.message}"
                self._line(f"failed: {text}", final=True)
            elif changed and event.state == DONE and event.total_bytes > 1_000_000 and key not in self._done:
                self._done.add(key)
                self._line(f"done: {event.component_id}/{event.path}", final=True)
            now = time.monotonic()
            if now - self._last >= (0.2 if self.interactive else 5.0):
                self._last = now
                self._line(self._summary(), final=not self.interactive)

    def _summary(self) -> str:
        total = sum(f.total_bytes for f in self.files.values())
        done = sum(f.done_bytes for f in self.files.values())
        active = [f for f in self.files.values() if f.state == DOWNLOADING]
        speed = sum(f.speed_bps for f in active)
        eta = (
            f" ETA {int((total - done) / speed) // 60}:{int((total - done) / speed) % 60:02d}"
            if speed > 0
            else ""
        )
        width = 30
        filled = int(width * done / total) if total else width
        return (
            f"[download] |{'#' * filled}{'-' * (width - filled)}| {100 * done / max(total, 1):5.1f}% "
            f"{format_bytes(done)}/{format_bytes(total)} {format_bytes(speed)}/s{eta} ({len(active)} active)"
        )

    def _line(self, text: str, *, final: bool) -> None:
        if self.interactive:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            if self.files:
                self._line(self._summary(), final=True)


def _manager(args: argparse.Namespace, on_progress: Callable[[FileProgress], None]) -> DownloadManager:
    settings = TransferSettings(stall_timeout_s=args.stall_timeout, retries=args.retries)
    # The same count for the metadata calls (auth check, file list), keeping their backoff.
    metadata_retry = dataclasses.replace(hub.DEFAULT_METADATA_RETRY, attempts=max(0, args.retries) + 1)
    return DownloadManager(
        args.models_dir,
        endpoint=args.endpoint,
        token=args.token,
        settings=settings,
        max_parallel=args.parallel,
        on_progress=on_progress,
        metadata_retry=metadata_retry,
    )


def cmd_download(args: argparse.Namespace) -> int:
    err = sys.stderr
    catalog = load_catalog()
    for name in args.components:
        try:
            component = catalog.component(name)
        except KeyError as e:
            err.write(f"error: {e.args[0]}\n")
            return BAD_INPUT
        if not component.supported:
            err.write(f"error: {component.name} waits for engine support; it cannot be downloaded yet.\n")
            return BAD_INPUT
    printer = _DownloadPrinter(err)
    manager = _manager(args, printer)
    # Files paused in the app are fetched too: asking the CLI to download is asking for everything.
    manager.clear_paused(args.components or None)
    try:
        report = manager.download(args.components or None)
    except KeyboardInterrupt:
        manager.pause_all()
        err.write("\nInterrupted; run the same command again to resume.\n")
        return INTERRUPTED
    except DiT360Error as e:
        return _fail(e, err)
    finally:
        printer.finish()
    code = _report_code(report, err, printer.shown)
    if code == exit_codes.OK:
        received = format_bytes(report.bytes_received)
        err.write(f"Done: {', '.join(report.completed) or 'nothing to do'} ({received} downloaded).\n")
    return code


def cmd_verify(args: argparse.Namespace) -> int:
    err = sys.stderr
    last = [0.0]

    def progress(event: VerifyProgress) -> None:
        now = time.monotonic()
        if now - last[0] > 2.0:
            last[0] = now
            err.write(
                f"[verify] {event.component_id}: {100 * event.done_bytes / max(event.total_bytes, 1):.0f}%\n"
            )

    checks = verify_installed(args.components or None, args.models_dir, on_progress=progress)
    bad = [c for c in checks if c.status != OK]
    for check in bad:
        err.write(f"{check.status}: {check.component_id}/{check.path}: {check.detail}\n")
    if not checks:
        err.write("Nothing is installed in the models folder; run 'dit360 models download'.\n")
        return exit_codes.OK
    if not bad:
        sys.stdout.write(f"All {len(checks)} files verified.\n")
        return exit_codes.OK
    if not args.repair:
        err.write("Run 'dit360 models verify --repair' to download the damaged files again.\n")
        return VERIFY
    fixable, unfixable = split_repairable(bad, args.models_dir)
    code = exit_codes.OK
    if fixable:
        printer = _DownloadPrinter(err)
        try:
            report = repair(fixable, args.models_dir, manager=_manager(args, printer))
        except DiT360Error as e:
            return _fail(e, err)
        finally:
            printer.finish()
        code = _report_code(report, err, printer.shown)
        if code == exit_codes.OK:
            sys.stdout.write(f"Repaired {len(fixable)} file(s).\n")
    if unfixable and code == exit_codes.OK:
        err.write(
            f"{len(unfixable)} damaged file(s) are in the Hugging Face cache, which this app does not "
            "rewrite; delete them with 'hf cache delete', or run 'dit360 models download' to get a verified "
            "copy.\n"
        )
        code = VERIFY
    return code


def cmd_import(args: argparse.Namespace) -> int:
    err = sys.stderr
    if not args.path.exists():
        err.write(f"error: {args.path} does not exist.\n")
        return BAD_INPUT
    last = [0.0]

    def progress(event: ImportProgress) -> None:
        now = time.monotonic()
        if now - last[0] > 2.0:
            last[0] = now
            err.write(
                f"[import] {event.component_id}: {100 * event.done_bytes / max(event.total_bytes, 1):.0f}%\n"
            )

    if is_pack(args.path):
        return _import_pack(args)
    try:
        report = import_model(args.path, mode=args.mode, models_dir=args.models_dir, on_progress=progress)
    except DiT360Error as e:
        return _fail(e, err)
    for entry in report.imported:
        sys.stdout.write(
            f"Imported {entry.component_id} ({entry.source}, {len(entry.files)} files): {entry.path}\n"
        )
    for refusal in report.refused:
        err.write(f"Not imported: {refusal.component_id} from {refusal.root}: {refusal.error}\n")
    # What was valid is registered; a refusal beside it still fails the command, with the model's code.
    return report.refused[0].error.exit_code if report.refused else exit_codes.OK


def _pack_progress(label: str, stream: TextIO) -> Callable[[PackProgress], None]:
    last = [0.0]

    def progress(event: PackProgress) -> None:
        now = time.monotonic()
        if now - last[0] > 2.0:
            last[0] = now
            percent = 100 * event.done_bytes / max(event.total_bytes, 1)
            stream.write(f"[{label}] {event.component_id}/{event.path}: {percent:.0f}% of all files\n")

    return progress


def _import_pack(args: argparse.Namespace) -> int:
    err = sys.stderr
    if args.mode == IN_PLACE:
        err.write(f"error: {args.path} is a model pack; a pack is always copied (leave out --in-place).\n")
        return BAD_INPUT
    try:
        result = import_pack(args.path, models_dir=args.models_dir, on_progress=_pack_progress("import", err))
    except KeyboardInterrupt:
        err.write("\nInterrupted; run the same command again to resume the copy.\n")
        return INTERRUPTED
    except (DiT360Error, OSError) as e:
        return _fail(e, err)
    for notice in result.notices:
        err.write(f"notice: {notice}\n")
    for entry in result.entries:
        sys.stdout.write(
            f"Imported {entry.component_id} from the pack ({len(entry.files)} files verified): {entry.path}\n"
        )
    return exit_codes.OK


def cmd_pack(args: argparse.Namespace) -> int:
    err = sys.stderr
    try:
        result = make_pack(
            args.output,
            models_dir=args.models_dir,
            components=args.components or None,
            on_progress=_pack_progress("pack", err),
        )
    except KeyboardInterrupt:
        err.write("\nInterrupted; the unfinished pack was removed.\n")
        return INTERRUPTED
    except (DiT360Error, OSError) as e:
        return _fail(e, err)
    names = ", ".join(c.id for c in result.manifest.components)
    sys.stdout.write(f"Wrote a pack of {names} ({format_bytes(result.total_bytes)}) to {result.path}\n")
    return exit_codes.OK


def cmd_where(args: argparse.Namespace) -> int:
    out = sys.stdout
    models_dir = resolve_models_dir(args.models_dir)
    used, free = disk_usage(models_dir)
    out.write(f"Models folder:  {models_dir} ({format_bytes(used)} used, {format_bytes(free)} free)\n")
    if args.models_dir is not None and models_dir != configured_models_dir():
        out.write(f"Configured:     {configured_models_dir()}\n")
    out.write(f"HF cache:       {hf_hub_cache_dir()}\n")
    for status in component_statuses(models_dir):
        if status.path is not None:
            out.write(f"{status.component.id + ':':16}{status.path} ({status.state})\n")
    return exit_codes.OK
