"""HRNet's one input-size rule, shared by profiles, export, benchmarks and the CLI.

The fuse layers upsample by 2**k with 'nearest' (NOTES §1), so H and W must be multiples
of 32; other sizes fail deep inside the model, so they are refused up front.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from workbench.errors import BadInput

#: The largest side accepted. HRNet classifiers run at 224-512; beyond this a single image's
#: activations run to gigabytes, so a typo (or 3.2e18) is refused instead of allocated.
MAX_SIDE = 4096


def check_input_size(input_size: int | Sequence[int]) -> tuple[int, int]:
    """``224`` or ``(224, 256)`` → (H, W); BadInput unless both are positive multiples of 32."""
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    try:
        vals: list[object] = list(input_size)
        if len(vals) != 2 or any(isinstance(v, bool) or (isinstance(v, float) and not v.is_integer())
                                 for v in vals):
            raise ValueError
        h, w = (int(v) for v in vals)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise BadInput(f"input size {input_size!r}: expected H,W (e.g. 224,224)") from None
    for v in (h, w):
        if v > MAX_SIDE:
            raise BadInput(f"input size {h}x{w}: sides above {MAX_SIDE} are refused "
                           "(HRNet classifiers run at 224-512)")
    if h <= 0 or w <= 0:
        raise BadInput(f"input size {h}x{w}: height and width must be positive (multiples of 32, "
                       "e.g. 224x224)")
    for v in (h, w):
        if v % 32:
            raise BadInput(f"input size {h}x{w} is not a multiple of 32; HRNet's fuse layers "
                           f"upsample by 2**k, so H and W must be divisible by 32 "
                           f"(try {max(32, round(v / 32) * 32)})")
    return h, w


def parse_input_size(text: str | int | Sequence[int]) -> tuple[int, int]:
    """``224``, ``224,256`` or ``224x256`` (or numbers) → (H, W), checked."""
    if not isinstance(text, str):
        return check_input_size(text)
    parts = [p for p in re.split(r"[x×,\s]+", text.strip().lower()) if p]
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise BadInput(f"input size {text!r}: expected H or HxW, e.g. 224 or 224x224") from None
    if len(nums) not in (1, 2):
        raise BadInput(f"input size {text!r}: expected H or HxW, e.g. 224 or 224x224")
    return check_input_size((nums[0], nums[-1]))
