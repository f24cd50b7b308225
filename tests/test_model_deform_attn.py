"""The Triton deformable-attention kernel against the grid_sample reference, forward and backward."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from motip.model.ms_deform_attn import ms_deform_attn_core_pytorch

CHECK = textwrap.dedent("""
    import sys, torch
    from motip.model.ms_deform_attn import ms_deform_attn_core_pytorch
    from motip.model.ms_deform_attn_triton import ms_deform_attn_triton
    torch.manual_seed(0)
    dev = sys.argv[1]
    shapes = torch.tensor([[6, 8], [3, 4], [2, 2]], device=dev)
    starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
    N, M, D, Lq, P, L = 2, 2, 8, 5, 3, 3
    S = int(shapes.prod(1).sum())
    value = torch.randn(N, S, M, D, device=dev, requires_grad=True)
    loc = (torch.rand(N, Lq, M, L, P, 2, device=dev) * 1.3 - 0.15).requires_grad_(True)  # some outside
    attn = torch.rand(N, Lq, M, L, P, device=dev).requires_grad_(True)
    g = torch.randn(N, Lq, M * D, device=dev)
    ref = ms_deform_attn_core_pytorch(value, shapes.tolist(), loc, attn)
    ref_grads = torch.autograd.grad((ref * g).sum(), (value, loc, attn))
    out = ms_deform_attn_triton(value, shapes, starts, loc, attn)
    grads = torch.autograd.grad((out * g).sum(), (value, loc, attn))
    diffs = [(out - ref).abs().max().item()] + [(a - b).abs().max().item() for a, b in zip(grads, ref_grads)]
    print("DIFFS", *diffs)
    assert max(diffs) < 1e-4, diffs
""")


def test_triton_kernel_matches_reference_in_interpreter():
    """Runs the real Triton kernels through Triton's CPU interpreter (TRITON_INTERPRET=1, set before import)."""
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1")
    result = subprocess.run([sys.executable, "-c", CHECK, "cpu"], env=env, capture_output=True, text=True,
                            timeout=300)
    if "InterpreterError" in result.stderr and "not supported" in result.stderr:
        pytest.skip("this Triton version's interpreter cannot run the kernel")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DIFFS" in result.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_triton_kernel_matches_reference_on_gpu():
    result = subprocess.run([sys.executable, "-c", CHECK, "cuda"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_module_picks_triton_on_cuda_and_agrees_at_full_size():
    from motip.model.ms_deform_attn import MSDeformAttn
    torch.manual_seed(0)
    attn = MSDeformAttn(256, 4, 8, 4).cuda()
    with torch.no_grad():
        attn.sampling_offsets.weight.normal_(0, 0.02)
        attn.attention_weights.weight.normal_(0, 0.02)
    shapes = torch.tensor([[76, 100], [38, 50], [19, 25], [10, 13]], device="cuda")
    starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
    src = torch.randn(2, int(shapes.prod(1).sum()), 256, device="cuda", requires_grad=True)
    query = torch.randn(2, 300, 256, device="cuda", requires_grad=True)
    ref_pts = torch.rand(2, 300, 4, 2, device="cuda")
    outs = {}
    for mode in ("pytorch", "auto"):
        os.environ["MOTIP_DEFORM_ATTN"] = mode
        out = attn(query, ref_pts, src, shapes, starts)
        grads = torch.autograd.grad(out.square().sum(), (src, query, attn.sampling_offsets.weight))
        outs[mode] = (out, grads)
    os.environ.pop("MOTIP_DEFORM_ATTN")
    torch.testing.assert_close(outs["auto"][0], outs["pytorch"][0], rtol=1e-4, atol=1e-4)
    for a, b in zip(outs["auto"][1], outs["pytorch"][1]):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


def test_reference_core_zero_outside_the_map():
    value = torch.ones(1, 4, 1, 2)
    loc = torch.full((1, 1, 1, 1, 1, 2), 1.5)  # far outside
    out = ms_deform_attn_core_pytorch(value, [(2, 2)], loc, torch.ones(1, 1, 1, 1, 1))
    assert out.abs().max().item() == 0.0
