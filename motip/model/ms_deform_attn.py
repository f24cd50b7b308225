"""Multi-scale deformable attention (Deformable DETR), same parameters and maths as the official `MSDeformAttn`.

The sampling core has two implementations behind one function, `ms_deform_attn_core`:
  * plain PyTorch with `F.grid_sample` (CPU and GPU, the reference), and
  * a Triton kernel (forward + backward, `ms_deform_attn_triton.py`), chosen automatically for CUDA tensors
    when Triton imports. Set `MOTIP_DEFORM_ATTN=pytorch` to force the reference path.
Both sample bilinearly with zero padding and align_corners=False, as the official CUDA kernel does.
"""

from __future__ import annotations

import math
import os
import warnings

import torch
import torch.nn.functional as F
from torch import nn


def ms_deform_attn_core_pytorch(value: torch.Tensor, spatial_shapes: list[tuple[int, int]],
                                sampling_locations: torch.Tensor, attention_weights: torch.Tensor) -> torch.Tensor:
    """value [N,S,M,D], sampling_locations [N,Lq,M,L,P,2] in 0..1, attention_weights [N,Lq,M,L,P] -> [N,Lq,M*D]."""
    n, _, m, d = value.shape
    _, lq, _, num_levels, p, _ = sampling_locations.shape
    value_list = value.split([h * w for h, w in spatial_shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1  # grid_sample wants -1..1
    sampled = []
    for level, (h, w) in enumerate(spatial_shapes):
        # [N, H*W, M, D] -> [N*M, D, H, W]
        value_l = value_list[level].flatten(2).transpose(1, 2).reshape(n * m, d, h, w)
        # [N, Lq, M, P, 2] -> [N*M, Lq, P, 2]
        grid_l = sampling_grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        sampled.append(F.grid_sample(value_l, grid_l, mode="bilinear", padding_mode="zeros", align_corners=False))
    weights = attention_weights.transpose(1, 2).reshape(n * m, 1, lq, num_levels * p)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1).view(n, m * d, lq)
    return out.transpose(1, 2).contiguous()


# The kernel chosen for each device type in this process: device type -> (name, reason). Filled at first use by
# `select_kernel`; `reason` is None unless the Triton kernel was wanted but fell back to the reference path.
_CHOICE: dict[str, tuple[str, str | None]] = {}
SELF_CHECK_ATOL = 1e-4  # the tolerances of tests/unit/test_model_deform_attn.py (float32, bilinear sampling)
SELF_CHECK_RTOL = 1e-4


def _wants_triton(device: torch.device) -> bool:
    """Production selection: CUDA only (or CPU under Triton's interpreter, for the tests)."""
    return device.type == "cuda" or (device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1")


def kernel_self_check(device: torch.device | str) -> str | None:
    """Run the Triton kernel against the reference on a small random problem on `device`: forward and the gradients
    of value, sampling locations and attention weights. Returns None when it agrees, else why not (import error,
    compile/launch error, or the largest difference). Never raises; leaves the global RNG and autocast alone."""
    device = torch.device(device)
    try:
        from motip.model import ms_deform_attn_triton as kernel_module
    except Exception as err:  # noqa: BLE001 - a self-check never raises: Triton missing or broken
        return f"Triton does not import ({type(err).__name__}: {err})"
    gen = torch.Generator().manual_seed(0)  # private generator: the run's seeded RNG stream is untouched
    shapes_list = [(6, 8), (3, 4), (2, 2)]
    n, m, d, lq, p, levels = 2, 2, 8, 5, 3, len(shapes_list)
    s = sum(h * w for h, w in shapes_list)
    try:
        with torch.inference_mode(False), torch.enable_grad(), torch.autocast(device.type, enabled=False):
            shapes = torch.tensor(shapes_list, device=device)
            starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
            value = torch.randn(n, s, m, d, generator=gen).to(device).requires_grad_(True)
            # Some points outside the map: the zero-padding rule is part of what is checked.
            loc = (torch.rand(n, lq, m, levels, p, 2, generator=gen) * 1.3 - 0.15).to(device).requires_grad_(True)
            attn = torch.rand(n, lq, m, levels, p, generator=gen).to(device).requires_grad_(True)
            grad_out = torch.randn(n, lq, m * d, generator=gen).to(device)
            ref = ms_deform_attn_core_pytorch(value, shapes_list, loc, attn)
            ref_grads = torch.autograd.grad((ref * grad_out).sum(), (value, loc, attn))
            out = kernel_module.ms_deform_attn_triton(value, shapes, starts, loc, attn)
            grads = torch.autograd.grad((out * grad_out).sum(), (value, loc, attn))
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # a launch error surfaces here, inside the try
    except Exception as err:  # noqa: BLE001 - a self-check never raises: compile or launch error
        return f"the Triton kernel failed to run ({type(err).__name__}: {str(err).strip()[:300]})"
    worst_name, worst, bad = "", 0.0, False
    for name, got, want in zip(("output", "grad value", "grad sampling_locations", "grad attention_weights"),
                               (out, *grads), (ref, *ref_grads)):
        got, want = got.detach().float().cpu(), want.detach().float().cpu()
        if got.shape != want.shape:
            return f"the Triton kernel's {name} has shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        diff = (got - want).abs()
        finite = bool(torch.isfinite(got).all())
        over = (not finite) or bool((diff > SELF_CHECK_ATOL + SELF_CHECK_RTOL * want.abs()).any())
        biggest = float(diff.max()) if finite else float("inf")
        if over and (not bad or biggest > worst):
            worst_name, worst, bad = name, biggest, True
    if bad:
        return (f"the Triton kernel disagrees with the PyTorch reference: max difference {worst:.3g} in the "
                f"{worst_name} (tolerance {SELF_CHECK_ATOL:g} + {SELF_CHECK_RTOL:g} x abs(reference))")
    return None


def select_kernel(device: torch.device | str) -> str:
    """The sampling kernel for `device` in this process ("triton" or "pytorch"), decided once: the Triton kernel
    only after it passed `kernel_self_check` on that device. A fallback emits one warning and is remembered."""
    device = torch.device(device)
    if os.environ.get("MOTIP_DEFORM_ATTN", "auto").strip().lower() == "pytorch":
        return "pytorch"  # the user's override, read on every call (not cached): no check, no warning
    key = device.type
    if key not in _CHOICE:
        if not _wants_triton(device):
            _CHOICE[key] = ("pytorch", None)
        else:
            reason = kernel_self_check(device)
            _CHOICE[key] = ("triton", None) if reason is None else ("pytorch", reason)
            if reason is not None:
                warnings.warn(f"deformable attention: {reason}; using the PyTorch reference path for the rest of "
                              "this process (slower, correct)", RuntimeWarning, stacklevel=2)
    return _CHOICE[key][0]


def kernel_status(device_type: str | None = None) -> tuple[str, str | None]:
    """(kernel name, fallback reason or None) chosen so far, for logs and `motip doctor`. With no device type: the
    CUDA choice if one was made, else any. ("unchecked", None) before the first use."""
    if device_type is not None:
        return _CHOICE.get(device_type, ("unchecked", None))
    if "cuda" in _CHOICE:
        return _CHOICE["cuda"]
    return next(iter(_CHOICE.values()), ("unchecked", None))


def kernel_warning(device_type: str | None = None) -> str | None:
    """One line for train.log / doctor when the Triton kernel fell back, else None."""
    name, reason = kernel_status(device_type)
    if reason is None:
        return None
    return (f"deformable attention runs on the PyTorch reference path ({name}), not the Triton kernel: {reason}. "
            "Training is correct but slower; MOTIP_DEFORM_ATTN=pytorch silences this check")


def ms_deform_attn_core(value: torch.Tensor, spatial_shapes: torch.Tensor, level_start_index: torch.Tensor,
                        sampling_locations: torch.Tensor, attention_weights: torch.Tensor) -> torch.Tensor:
    """Dispatch to the Triton kernel on CUDA (or under TRITON_INTERPRET=1) once it passed its self-check, else to
    grid_sample."""
    if select_kernel(value.device) == "triton":
        from motip.model.ms_deform_attn_triton import ms_deform_attn_triton
        return ms_deform_attn_triton(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    shapes = [(int(h), int(w)) for h, w in spatial_shapes.tolist()]
    return ms_deform_attn_core_pytorch(value, shapes, sampling_locations, attention_weights)


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention with the official parameter names and initialisation."""

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.im2col_step = 64  # kept for parity with the official module; unused
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        nn.init.constant_(self.sampling_offsets.weight, 0.0)
        # Initial offsets point in n_heads directions, 1..n_points steps away.
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid_init = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid_init = (grid_init / grid_init.abs().max(-1, keepdim=True)[0]).view(self.n_heads, 1, 1, 2)
        grid_init = grid_init.repeat(1, self.n_levels, self.n_points, 1)
        for i in range(self.n_points):
            grid_init[:, :, i, :] *= i + 1
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid_init.view(-1))
        nn.init.constant_(self.attention_weights.weight, 0.0)
        nn.init.constant_(self.attention_weights.bias, 0.0)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.constant_(self.value_proj.bias, 0.0)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.constant_(self.output_proj.bias, 0.0)

    def forward(self, query: torch.Tensor, reference_points: torch.Tensor, input_flatten: torch.Tensor,
                input_spatial_shapes: torch.Tensor, input_level_start_index: torch.Tensor,
                input_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        n, len_q, _ = query.shape
        _, len_in, _ = input_flatten.shape
        value = self.value_proj(input_flatten)
        if input_padding_mask is not None:
            value = value.masked_fill(input_padding_mask[..., None], 0.0)
        value = value.view(n, len_in, self.n_heads, self.d_model // self.n_heads)
        sampling_offsets = self.sampling_offsets(query).view(n, len_q, self.n_heads, self.n_levels, self.n_points, 2)
        attention_weights = self.attention_weights(query).view(n, len_q, self.n_heads, self.n_levels * self.n_points)
        attention_weights = F.softmax(attention_weights, -1).view(n, len_q, self.n_heads, self.n_levels,
                                                                  self.n_points)
        if reference_points.shape[-1] == 2:
            offset_normalizer = torch.stack([input_spatial_shapes[..., 1], input_spatial_shapes[..., 0]], -1)
            sampling_locations = (reference_points[:, :, None, :, None, :]
                                  + sampling_offsets / offset_normalizer[None, None, None, :, None, :])
        elif reference_points.shape[-1] == 4:
            sampling_locations = (reference_points[:, :, None, :, None, :2]
                                  + sampling_offsets / self.n_points * reference_points[:, :, None, :, None, 2:] * 0.5)
        else:
            raise ValueError(f"last dim of reference_points must be 2 or 4, got {reference_points.shape[-1]}")
        # Like the official module under AMP: sample in float32, project back in the autocast dtype.
        out_dtype = value.dtype
        output = ms_deform_attn_core(value.float(), input_spatial_shapes, input_level_start_index,
                                     sampling_locations.float(), attention_weights.float())
        return self.output_proj(output.to(out_dtype))
