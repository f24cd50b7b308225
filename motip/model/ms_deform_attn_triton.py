"""Triton kernels for multi-scale deformable attention (forward + backward), float32.

Same sampling rule as the official CUDA kernel and `F.grid_sample(align_corners=False, padding_mode="zeros")`:
pixel coordinates are loc * size - 0.5, corners outside the map contribute zero. One program handles one
(batch, query) pair and one head, vectorised over the head's channels. The backward pass recomputes the
bilinear weights, scatters value gradients with atomic adds, and reduces location/weight gradients over channels.
Triton JIT-compiles these on first use; there is no build step (Triton ships with the CUDA torch wheel).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl

# Kernel launches in this process, so a test can tell that the Triton path really ran (not the reference).
LAUNCHES = {"forward": 0, "backward": 0}


@triton.jit
def _corner(value_ptr, base, idx_h, idx_w, height, width, m, d_offs, d_mask, M: tl.constexpr, D: tl.constexpr):
    # Widen the corner indices to channel vectors: the mask must be a vector (also for TRITON_INTERPRET=1).
    vh = idx_h + d_offs * 0
    vw = idx_w + d_offs * 0
    inside = d_mask & (vh >= 0) & (vh < height) & (vw >= 0) & (vw < width)
    offs = (base + vh * width + vw) * M * D + m * D + d_offs
    return tl.load(value_ptr + offs, mask=inside, other=0.0), offs, inside


@triton.jit
def _ms_deform_attn_fwd(value_ptr, shapes_ptr, starts_ptr, loc_ptr, attn_ptr, out_ptr, S, LQ,
                        M: tl.constexpr, D: tl.constexpr, L: tl.constexpr, P: tl.constexpr,
                        BLOCK_D: tl.constexpr):
    nq = tl.program_id(0)
    m = tl.program_id(1)
    n = nq // LQ
    d_offs = tl.arange(0, BLOCK_D)
    d_mask = d_offs < D
    acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    for lvl in tl.static_range(L):
        height = tl.load(shapes_ptr + 2 * lvl)
        width = tl.load(shapes_ptr + 2 * lvl + 1)
        base = n * S + tl.load(starts_ptr + lvl)
        for p in tl.static_range(P):
            point = ((nq * M + m) * L + lvl) * P + p
            a = tl.load(attn_ptr + point)
            h_im = tl.load(loc_ptr + 2 * point + 1) * height - 0.5
            w_im = tl.load(loc_ptr + 2 * point) * width - 0.5
            valid = (h_im > -1) & (w_im > -1) & (h_im < height) & (w_im < width)
            h_low_f = tl.floor(h_im)
            w_low_f = tl.floor(w_im)
            lh = h_im - h_low_f
            lw = w_im - w_low_f
            hh = 1 - lh
            hw = 1 - lw
            h_low = h_low_f.to(tl.int64)
            w_low = w_low_f.to(tl.int64)
            v1, _o1, _i1 = _corner(value_ptr, base, h_low, w_low, height, width, m, d_offs, d_mask, M, D)
            v2, _o2, _i2 = _corner(value_ptr, base, h_low, w_low + 1, height, width, m, d_offs, d_mask, M, D)
            v3, _o3, _i3 = _corner(value_ptr, base, h_low + 1, w_low, height, width, m, d_offs, d_mask, M, D)
            v4, _o4, _i4 = _corner(value_ptr, base, h_low + 1, w_low + 1, height, width, m, d_offs, d_mask, M, D)
            sampled = hh * hw * v1 + hh * lw * v2 + lh * hw * v3 + lh * lw * v4
            acc += tl.where(valid, a, 0.0) * sampled
    tl.store(out_ptr + (nq * M + m) * D + d_offs, acc, mask=d_mask)


@triton.jit
def _ms_deform_attn_bwd(value_ptr, shapes_ptr, starts_ptr, loc_ptr, attn_ptr, grad_out_ptr, grad_value_ptr,
                        grad_loc_ptr, grad_attn_ptr, S, LQ, M: tl.constexpr, D: tl.constexpr, L: tl.constexpr,
                        P: tl.constexpr, BLOCK_D: tl.constexpr):
    nq = tl.program_id(0)
    m = tl.program_id(1)
    n = nq // LQ
    d_offs = tl.arange(0, BLOCK_D)
    d_mask = d_offs < D
    g = tl.load(grad_out_ptr + (nq * M + m) * D + d_offs, mask=d_mask, other=0.0)
    for lvl in tl.static_range(L):
        height = tl.load(shapes_ptr + 2 * lvl)
        width = tl.load(shapes_ptr + 2 * lvl + 1)
        base = n * S + tl.load(starts_ptr + lvl)
        for p in tl.static_range(P):
            point = ((nq * M + m) * L + lvl) * P + p
            a = tl.load(attn_ptr + point)
            h_im = tl.load(loc_ptr + 2 * point + 1) * height - 0.5
            w_im = tl.load(loc_ptr + 2 * point) * width - 0.5
            valid = (h_im > -1) & (w_im > -1) & (h_im < height) & (w_im < width)
            h_low_f = tl.floor(h_im)
            w_low_f = tl.floor(w_im)
            lh = h_im - h_low_f
            lw = w_im - w_low_f
            hh = 1 - lh
            hw = 1 - lw
            h_low = h_low_f.to(tl.int64)
            w_low = w_low_f.to(tl.int64)
            v1, o1, i1 = _corner(value_ptr, base, h_low, w_low, height, width, m, d_offs, d_mask, M, D)
            v2, o2, i2 = _corner(value_ptr, base, h_low, w_low + 1, height, width, m, d_offs, d_mask, M, D)
            v3, o3, i3 = _corner(value_ptr, base, h_low + 1, w_low, height, width, m, d_offs, d_mask, M, D)
            v4, o4, i4 = _corner(value_ptr, base, h_low + 1, w_low + 1, height, width, m, d_offs, d_mask, M, D)
            sampled = hh * hw * v1 + hh * lw * v2 + lh * hw * v3 + lh * lw * v4
            a_eff = tl.where(valid, a, 0.0)
            # d(out)/d(attention weight) = sampled value; d(out)/d(location) through the bilinear weights.
            tl.store(grad_attn_ptr + point, tl.where(valid, tl.sum(g * sampled, axis=0), 0.0))
            d_lh = -hw * v1 - lw * v2 + hw * v3 + lw * v4
            d_lw = -hh * v1 + hh * v2 - lh * v3 + lh * v4
            tl.store(grad_loc_ptr + 2 * point, tl.sum(g * d_lw, axis=0) * width * a_eff)
            tl.store(grad_loc_ptr + 2 * point + 1, tl.sum(g * d_lh, axis=0) * height * a_eff)
            gv = g * a_eff
            tl.atomic_add(grad_value_ptr + o1, hh * hw * gv, mask=i1)  # invalid points carry a_eff = 0
            tl.atomic_add(grad_value_ptr + o2, hh * lw * gv, mask=i2)  # invalid points carry a_eff = 0
            tl.atomic_add(grad_value_ptr + o3, lh * hw * gv, mask=i3)  # invalid points carry a_eff = 0
            tl.atomic_add(grad_value_ptr + o4, lh * lw * gv, mask=i4)  # invalid points carry a_eff = 0


class _MSDeformAttnTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, value: torch.Tensor, spatial_shapes: torch.Tensor, level_start_index: torch.Tensor,
                sampling_locations: torch.Tensor, attention_weights: torch.Tensor) -> torch.Tensor:
        value = value.contiguous().float()
        sampling_locations = sampling_locations.contiguous().float()
        attention_weights = attention_weights.contiguous().float()
        spatial_shapes = spatial_shapes.to(value.device, torch.int64).contiguous()
        level_start_index = level_start_index.to(value.device, torch.int64).contiguous()
        n, s, m, d = value.shape
        _, lq, _, num_levels, p, _ = sampling_locations.shape
        out = torch.empty((n, lq, m, d), device=value.device, dtype=torch.float32)
        _ms_deform_attn_fwd[(n * lq, m)](value, spatial_shapes, level_start_index, sampling_locations,
                                         attention_weights, out, s, lq, M=m, D=d, L=num_levels, P=p,
                                         BLOCK_D=triton.next_power_of_2(d))
        LAUNCHES["forward"] += 1
        ctx.save_for_backward(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
        return out.view(n, lq, m * d)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        value, spatial_shapes, level_start_index, sampling_locations, attention_weights = ctx.saved_tensors
        n, s, m, d = value.shape
        _, lq, _, num_levels, p, _ = sampling_locations.shape
        grad_value = torch.zeros_like(value)
        grad_loc = torch.zeros_like(sampling_locations)
        grad_attn = torch.zeros_like(attention_weights)
        _ms_deform_attn_bwd[(n * lq, m)](value, spatial_shapes, level_start_index, sampling_locations,
                                         attention_weights, grad_output.contiguous().float(), grad_value, grad_loc,
                                         grad_attn, s, lq, M=m, D=d, L=num_levels, P=p,
                                         BLOCK_D=triton.next_power_of_2(d))
        LAUNCHES["backward"] += 1
        return grad_value, None, None, grad_loc, grad_attn


def ms_deform_attn_triton(value: torch.Tensor, spatial_shapes: torch.Tensor, level_start_index: torch.Tensor,
                          sampling_locations: torch.Tensor, attention_weights: torch.Tensor) -> torch.Tensor:
    """Same contract as ms_deform_attn_core_pytorch: returns [N, Lq, M*D] float32."""
    return _MSDeformAttnTriton.apply(value, spatial_shapes, level_start_index, sampling_locations,
                                     attention_weights)
