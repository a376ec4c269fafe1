"""``dit360 edit``: regenerate the masked part of a 2:1 panorama (white = regenerate, black = keep).

Two methods (docs/editing.md): ``blend`` (default) keeps unmasked pixels exactly and handles the 0/360°
seam; ``reference`` is the published DiT360 editing.py method, reproduced with its defaults (50 steps,
guidance 3.5, tau 50) unless you pass others.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dit360_desktop.cli import preflight
from dit360_desktop.cli.generate import (
    add_extra_lora_argument,
    add_model_arguments,
    add_output_arguments,
    add_parameter,
    add_seed_argument,
    model_request_fields,
    report_error,
    run_request,
)
from dit360_desktop.panorama.errors import DiT360Error, RequestError
from dit360_desktop.panorama.mask import ASPECT_TOLERANCE
from dit360_desktop.panorama.request import (
    EDIT_METHODS,
    FIT_MODES,
    MAX_SIDE,
    MIN_SIDE,
    GenerationRequest,
)

# The published editing.py runs 50 steps and, since it never passes its guidance, the pipeline's 3.5.
METHOD_DEFAULTS = {"blend": {"steps": 28, "guidance": 2.8}, "reference": {"steps": 50, "guidance": 3.5}}
MAX_DEFAULT_WIDTH = 2048


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("edit", help="inpaint or outpaint part of a panorama", description=__doc__)
    parser.add_argument("--image", required=True, help="the 2:1 panorama to edit")
    parser.add_argument(
        "--mask", required=True, help="mask PNG: white = regenerate, black = keep, grey = partial"
    )
    parser.add_argument("--fit", choices=FIT_MODES, default=None, help="fit a panorama that is not 2:1")
    add_edit_arguments(parser)
    parser.set_defaults(handler=run)


def add_edit_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``edit`` and ``place`` share: the prompt, the method and every generation option."""
    parser.add_argument("--prompt", required=True, help="what the regenerated part shows")
    parser.add_argument("--source-prompt", default="", help="reference method: what the panorama shows now")
    parser.add_argument(
        "--method", choices=EDIT_METHODS, default="blend", help="blend (default) or reference"
    )
    add_parameter(parser, "--tau", "tau")
    add_parameter(parser, "--strength", "strength")
    add_parameter(parser, "--feather", "feather")
    parser.add_argument("--negative", default="", help="negative prompt (blend, with --true-cfg > 1)")
    add_parameter(parser, "--true-cfg", "true_cfg_scale")
    add_parameter(parser, "--width", "width", default_from="the panorama's, ≤ 2048")
    add_parameter(parser, "--height", "height", default_from="width / 2")
    add_parameter(parser, "--steps", "steps", default_from="28 (blend) or 50 (reference)")
    add_parameter(parser, "--guidance", "guidance", default_from="2.8 (blend) or 3.5 (reference)")
    add_seed_argument(parser)
    add_model_arguments(parser)
    parser.add_argument("--lora", default=None, help="LoRA folder or .safetensors file, or 'none'")
    add_parameter(parser, "--lora-scale", "lora_scale")
    add_extra_lora_argument(parser)
    add_output_arguments(parser)


def default_size(image_size: tuple[int, int] | None, args: argparse.Namespace) -> tuple[int, int]:
    """The 2:1 output size: --width/--height when given (the other side follows), else the panorama's
    own (at most 2048 wide, a multiple of 32). A refusal names the option or the image the size came
    from, never a side the person did not give."""
    if args.width is not None and args.height is not None:
        return args.width, args.height
    if args.width is not None:
        if args.width % 32 or args.width // 2 < MIN_SIDE:
            raise RequestError(
                "--width",
                f"a panorama is 2:1, so --width {args.width} gives a height of {args.width / 2:g}; "
                f"give a multiple of 32 from {2 * MIN_SIDE} to {MAX_SIDE} (or --height too)",
            )
        return args.width, args.width // 2
    if args.height is not None:
        if 2 * args.height > MAX_SIDE:
            raise RequestError(
                "--height",
                f"a panorama is 2:1, so --height {args.height} gives a width of {2 * args.height}, more "
                f"than {MAX_SIDE}; give at most {MAX_SIDE // 2}",
            )
        return 2 * args.height, args.height
    if image_size is None:
        return MAX_DEFAULT_WIDTH, MAX_DEFAULT_WIDTH // 2
    width = min(image_size[0], MAX_DEFAULT_WIDTH) // 32 * 32
    if width < 2 * MIN_SIDE:
        raise RequestError(
            "--image",
            f"the panorama is {image_size[0]}×{image_size[1]} pixels, smaller than the "
            f"{2 * MIN_SIDE}×{MIN_SIDE} an edit works at; pass --width (and it is scaled up) or use a "
            "larger picture",
        )
    return width, width // 2


def check_two_to_one(path: str, size: tuple[int, int], fit: str | None) -> None:
    width, height = size
    if fit is None and abs(width / height / 2.0 - 1.0) > ASPECT_TOLERANCE:
        raise RequestError(
            "--image",
            f"{Path(path).name} is {width}×{height}, not a 2:1 panorama. Pass --fit crop, --fit pad or "
            "--fit stretch to fit it, or use `dit360 place` to put a perspective photo on the sphere.",
        )


def build_request(
    args: argparse.Namespace, image: str, mask: str, size: tuple[int, int], fit: str
) -> GenerationRequest:
    defaults = METHOD_DEFAULTS[args.method]
    width, height = default_size(size, args)
    return GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative,
        true_cfg_scale=args.true_cfg,
        width=width,
        height=height,
        steps=args.steps if args.steps is not None else defaults["steps"],
        guidance=args.guidance if args.guidance is not None else defaults["guidance"],
        seed=args.seed,
        init_image=image,
        strength=args.strength,
        fit=fit,
        rewrap_each_step=args.rewrap,
        mask_image=mask,
        edit_method=args.method,
        source_prompt=args.source_prompt,
        tau=args.tau,
        feather=args.feather,
        extra_loras=tuple(args.extra_lora),
        **model_request_fields(args),
    )


def run(args: argparse.Namespace) -> int:
    from dit360_desktop.panorama.mask import load_mask
    from dit360_desktop.panorama.userimage import load_user_image

    try:
        preflight.check_prompt_text("--prompt", args.prompt)
        preflight.check_prompt_text("--source-prompt", args.source_prompt)
        image_path = str(Path(args.image).expanduser())
        mask_path = str(Path(args.mask).expanduser())
        size = load_user_image(image_path).size
        check_two_to_one(image_path, size, args.fit)
        try:
            load_mask(mask_path, size)
        except RequestError as error:
            raise RequestError("--mask", error.reason) from error
        request = build_request(args, image_path, mask_path, size, args.fit or "crop")
        request.validate()
    except (DiT360Error, OSError) as error:
        return report_error(error)
    return run_request(request, args)
