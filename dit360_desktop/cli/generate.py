"""``dit360 generate``: one panorama from the command line, through the same engine as the app."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dit360_desktop.cli import arg_types, exit_codes, preflight
from dit360_desktop.cli.guides import add_guide_arguments, guide_request_fields
from dit360_desktop.cli.progress import ProgressPrinter
from dit360_desktop.cli.saving import print_report, save_from_cli
from dit360_desktop.models.selection import resolve_base_model, resolve_lora
from dit360_desktop.panorama.errors import (
    DiT360Error,
    LoraMismatchError,
    ModelInvalidError,
    ModelMissingError,
    RequestError,
)
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import (
    ATTENTION_CHOICES,
    DEFAULT_STEP_CACHE,
    DEVICES,
    DTYPES,
    FIT_MODES,
    PARAMETERS,
    STEP_CACHE_CHOICES,
    TIERS,
    GenerationRequest,
)

if TYPE_CHECKING:
    from dit360_desktop.history.library import Library

log = logging.getLogger(__name__)


def on_off(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("on", "true", "yes", "1"):
        return True
    if lowered in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="generate a panorama", description=__doc__)
    parser.add_argument("--prompt", required=True, help="what the panorama shows")
    parser.add_argument("--negative", default="", help="negative prompt (used with --true-cfg > 1)")
    add_parameter(parser, "--true-cfg", "true_cfg_scale")
    add_parameter(parser, "--width", "width")
    add_parameter(parser, "--height", "height")
    add_parameter(parser, "--steps", "steps")
    add_parameter(parser, "--guidance", "guidance")
    add_seed_argument(parser)
    parser.add_argument("--init-image", default=None, help="image for img2img")
    add_parameter(parser, "--strength", "strength")
    parser.add_argument("--fit", choices=FIT_MODES, default="crop", help="how a non-2:1 init image is fitted")
    add_model_arguments(parser)
    parser.add_argument("--lora", default=None, help="LoRA folder or .safetensors file, or 'none'")
    add_parameter(parser, "--lora-scale", "lora_scale")
    add_extra_lora_argument(parser)
    parser.add_argument(
        "--cache",
        nargs="?",
        choices=STEP_CACHE_CHOICES,
        const=DEFAULT_STEP_CACHE,
        default="off",
        help=f"fast draft: skip part of the transformer's work on steps that change little (not exact; "
        f"--cache alone: {DEFAULT_STEP_CACHE})",
    )
    add_guide_arguments(parser)
    add_output_arguments(parser)
    parser.set_defaults(handler=run)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Where a run's result goes, and how it reports: shared by generate, edit and place."""
    parser.add_argument(
        "--rewrap", type=on_off, default=False, metavar="on|off", help="re-wrap pads every step"
    )
    parser.add_argument("--save-latent", type=Path, default=None, metavar="FILE.safetensors")
    parser.add_argument(
        "--output", type=Path, default=None, metavar="FILE.png", help="also write a copy here"
    )
    parser.add_argument("--library", type=Path, default=None, help="history library folder")
    parser.add_argument("--no-history", action="store_true", help="do not record the result in the library")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def add_parameter(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    name: str,
    *,
    default_from: str | None = None,
) -> None:
    """A numeric request field as an option: type, default, range and help from ``PARAMETERS``. With
    ``default_from`` the option defaults to None and its help says where the value comes from instead (the
    command decides, e.g. from the method or the source panorama)."""
    spec = PARAMETERS[name]
    text = " ".join(spec.help.split()).replace("%", "%%")
    default = f"default {spec.default:g}" if default_from is None else f"default: {default_from}"
    parser.add_argument(
        flag,
        type=arg_types.parameter(name),
        default=spec.default if default_from is None else None,
        help=f"{text} ({spec.low:g}…{spec.high:g}; {default})",
    )


def add_seed_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed", type=arg_types.limited("seed"), default=None, help="0…2^32-1; random when omitted"
    )


def extra_lora(value: str) -> tuple[str, float]:
    """``FILE[:SCALE]``; a colon that is not followed by a number belongs to the path (``C:\\x``)."""
    path, colon, tail = value.rpartition(":")
    if colon and path:
        try:
            return str(Path(path).expanduser()), float(tail)
        except ValueError:
            pass
    return str(Path(value).expanduser()), 1.0


def add_extra_lora_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--extra-lora",
        type=extra_lora,
        action="append",
        default=[],
        metavar="FILE[:SCALE]",
        help="another FLUX LoRA on top of DiT360 (style, or an 8-step turbo LoRA), at SCALE (default 1); "
        "repeatable",
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, help="diffusers FLUX.1-dev folder")
    parser.add_argument("--dtype", choices=DTYPES, default="auto")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--seamless-decode", type=on_off, default=True, metavar="on|off")
    parser.add_argument(
        "--tier", choices=TIERS, default="auto", help="memory tier (auto: chosen from the free GPU memory)"
    )
    add_engine_arguments(parser)


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """How the engine is built (``engine_options``); also ``dit360 batch``'s, for its cluster workers."""
    parser.add_argument("--gguf", type=Path, default=None, metavar="FILE.gguf", help="GGUF transformer")
    parser.add_argument("--compile", action="store_true", help="torch.compile the transformer blocks")
    parser.add_argument(
        "--fuse-lora",
        action="store_true",
        help="merge the LoRA into the 16-bit weights (about 6 %% faster steps; a new scale reloads)",
    )
    parser.add_argument(
        "--attention",
        choices=ATTENTION_CHOICES,
        default="auto",
        help="attention kernel (auto: FlashAttention-3/2 when installed, else PyTorch SDPA)",
    )
    parser.add_argument(
        "--fp8-compute",
        action="store_true",
        help="fp8 matmuls in the transformer (torchao; Hopper GPUs or newer; full/24gb/24gb-fp8 tiers)",
    )


def model_request_fields(args: argparse.Namespace) -> dict:
    """The request fields that --lora/--lora-scale and ``add_model_arguments``' options set, alike in
    every command that runs the engine (the default-LoRA rule is ``models.selection.resolve_lora``)."""
    return {
        "lora_path": resolve_lora(args.lora),
        "lora_scale": args.lora_scale,
        "dtype": args.dtype,
        "device": args.device,
        "seamless_decode": args.seamless_decode,
        "tier": args.tier,
    }


def engine_options(args: argparse.Namespace) -> EngineOptions:
    """How the engine is built, from ``add_engine_arguments``' options (the one place for every command)."""
    return EngineOptions(
        gguf_file=args.gguf,
        compile=args.compile,
        attention=args.attention,
        fuse_lora=args.fuse_lora,
        fp8_compute=args.fp8_compute,
    )


def check_engine_options(args: argparse.Namespace, request: GenerationRequest) -> None:
    """Refuse, before the model loads, what this machine cannot run and LoRA files that are missing."""
    check_attention(args.attention, request)
    for path, _ in request.extra_loras:
        if not Path(path).exists():
            raise ModelMissingError(f"The LoRA file {path} (--extra-lora) does not exist.")
    if args.fp8_compute:
        from dit360_desktop.core.devices import resolve_device
        from dit360_desktop.core.fp8_compute import check_fp8_compute

        check_fp8_compute(resolve_device(request.device))


# The engine's messages name the problem; what to do about it is a front end's business (the app offers
# its model manager instead).
CLI_MODEL_HINT = (
    "Run `dit360 models download` (or `dit360 models import FOLDER`), or pass --model DIR with a "
    "diffusers-layout FLUX.1-dev folder."
)


def report_error(error: BaseException) -> int:
    # A LoRA file that does not fit names that file; downloading the base model would not help.
    about_the_model = isinstance(error, ModelMissingError | ModelInvalidError) and not isinstance(
        error, LoraMismatchError
    )
    return exit_codes.report(error, hint=f" {CLI_MODEL_HINT}" if about_the_model else "")


def run(args: argparse.Namespace) -> int:
    import tempfile

    # A control image computed by --control-from lives beside --output, else as long as the run.
    with tempfile.TemporaryDirectory(prefix="dit360-guides-") as work:
        guides_dir = args.output.expanduser().parent if args.output is not None else Path(work)
        return run_with_guides(args, guides_dir)


def run_with_guides(args: argparse.Namespace, guides_dir: Path) -> int:
    try:
        # Before the request: a missing guide model names its own remedy, not the base model's.
        guides = guide_request_fields(args, guides_dir)
    except (DiT360Error, OSError) as error:
        return exit_codes.report(error)
    try:
        preflight.check_prompt_text("--prompt", args.prompt)
        preflight.check_prompt_text("--negative", args.negative)
        request = GenerationRequest(
            prompt=args.prompt,
            negative_prompt=args.negative,
            true_cfg_scale=args.true_cfg,
            width=args.width,
            height=args.height,
            steps=args.steps,
            guidance=args.guidance,
            seed=args.seed,
            init_image=str(Path(args.init_image).expanduser()) if args.init_image else None,
            strength=args.strength,
            fit=args.fit,
            rewrap_each_step=args.rewrap,
            **model_request_fields(args),
            extra_loras=tuple(args.extra_lora),
            step_cache=args.cache,
            **guides,
        )
        request.validate()
        from dit360_desktop.panorama.imageio import load_user_image

        for picture in (request.init_image, request.control_image, request.reference_image):
            if picture is not None:
                load_user_image(picture)
    except (DiT360Error, OSError) as error:
        return report_error(error)
    return run_request(request, args)


def run_request(request: GenerationRequest, args: argparse.Namespace) -> int:
    """Check the outputs, run a validated request (a generation or an edit) and save what it made."""
    library = None
    try:
        check_output_paths(args, request)
        check_engine_options(args, request)
        model_dir = resolve_base_model(args.model)
        args.width, args.height = request.width, request.height
        library = open_library(args)
    except (DiT360Error, OSError) as error:
        return report_error(error)

    from dit360_desktop.core.engine import PanoramaEngine

    try:
        engine = PanoramaEngine(model_dir, engine_options(args))
        try:
            result = engine.run(request, on_event=ProgressPrinter(quiet=args.quiet))
        except KeyboardInterrupt:
            sys.stderr.write("\nInterrupted; nothing was written.\n")
            return exit_codes.INTERRUPTED
        except (DiT360Error, OSError) as error:
            return report_error(error)
        report = save_from_cli(result, output=args.output, latent=args.save_latent, library=library)
        return print_report(report)
    finally:
        if library is not None:
            library.close()


def check_output_paths(args: argparse.Namespace, request: GenerationRequest) -> None:
    """Refuse, before the model loads, an --output/--save-latent/library path that cannot take the result."""
    if args.save_latent is not None and args.save_latent.suffix != ".safetensors":
        raise RequestError("--save-latent", "must end in .safetensors")
    png_bytes = preflight.png_size_bound(request.width, request.height)
    if args.output is not None:
        args.output = preflight.check_output_file(args.output, "--output", png_bytes)
    if args.save_latent is not None:
        latent_bytes = preflight.latent_size(request.width, request.height)
        args.save_latent = preflight.check_output_file(args.save_latent, "--save-latent", latent_bytes)
    if not args.no_history:
        preflight.check_library_folder(args.library)


def check_attention(name: str, request: GenerationRequest) -> None:
    """Refuse an --attention kernel the request's device and dtype cannot run."""
    if name == "auto":
        return
    from dit360_desktop.core.devices import resolve_device, resolve_dtype
    from dit360_desktop.core.speed import check_attention_backend

    device = resolve_device(request.device)
    check_attention_backend(name, device, resolve_dtype(request.dtype, device))


def open_library(args: argparse.Namespace) -> Library | None:
    """The library, opened (and so checked: a folder, writable) before the model loads."""
    if args.no_history:
        return None
    from dit360_desktop.history.library import Library

    library = Library.open(args.library)
    try:
        preflight.check_free_space(
            library.root, "--library", preflight.png_size_bound(args.width, args.height)
        )
    except BaseException:
        library.close()
        raise
    return library
