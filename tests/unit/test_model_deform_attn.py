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
    from motip.model import ms_deform_attn_triton as kernel
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
    # The kernels really launched (not a silent detour through the reference).
    assert kernel.LAUNCHES == {"forward": 1, "backward": 1}, kernel.LAUNCHES
    diffs = [(out - ref).abs().max().item()] + [(a - b).abs().max().item() for a, b in zip(grads, ref_grads)]
    print("DIFFS", *diffs)
    assert max(diffs) < 1e-4, diffs
""")

# Scenarios of the first-use self-check (`select_kernel`), driven on the CPU through Triton's interpreter.
SELF_CHECK = textwrap.dedent("""
    import sys, warnings
    scenario = sys.argv[1]
    if scenario == "no-triton":
        sys.modules["triton"] = None  # `import triton` now raises ImportError, as with a missing/broken Triton
    import torch
    from motip.model import ms_deform_attn as mda
    if scenario == "wrong":
        from motip.model import ms_deform_attn_triton as kernel
        launcher = kernel.ms_deform_attn_triton
        def perturbed(*args):  # the real kernel, its output off by 1e-3: small, but over the tolerance
            return launcher(*args) + 1e-3
        kernel.ms_deform_attn_triton = perturbed
    torch.manual_seed(0)
    rng_before = torch.rand(1)
    torch.manual_seed(0)
    module = mda.MSDeformAttn(16, 2, 2, 2)
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = mda.select_kernel("cpu")
        assert torch.rand(1).item() == rng_before.item(), "the self-check moved the global RNG"
        shapes = torch.tensor([[4, 5], [2, 3]])
        starts = torch.tensor([0, 20])
        src = torch.randn(1, 26, 16, requires_grad=True)
        out = module(torch.randn(1, 3, 16), torch.rand(1, 3, 2, 2), src, shapes, starts)
        out.square().sum().backward()
        again = mda.select_kernel("cpu")
    ours = [str(w.message) for w in caught if "deformable attention" in str(w.message)]
    launches = {}
    if "triton" in sys.modules and sys.modules["triton"] is not None:
        from motip.model import ms_deform_attn_triton as kernel
        launches = dict(kernel.LAUNCHES)
    print("RESULT", first, again, mda.kernel_status("cpu"), launches, sep="|")
    print("WARNINGS", len(ours), *ours, sep="|")
    print("LOGLINE", mda.kernel_warning(), sep="|")
""")


def _interpreted(script: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TRITON_INTERPRET="1")
    env.pop("MOTIP_DEFORM_ATTN", None)
    result = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                            timeout=300)
    if "InterpreterError" in result.stderr and "not supported" in result.stderr:
        pytest.skip("this Triton version's interpreter cannot run the kernel")
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _lines(stdout: str) -> dict[str, list[str]]:
    return {line.split("|")[0]: line.split("|")[1:] for line in stdout.splitlines() if "|" in line}


def test_triton_kernel_matches_reference_in_interpreter():
    """Runs the real Triton kernels through Triton's CPU interpreter (TRITON_INTERPRET=1, set before import)."""
    pytest.importorskip("triton")
    result = _interpreted(CHECK, "cpu")
    assert "DIFFS" in result.stdout


def test_self_check_passes_and_the_kernel_is_used_in_interpreter():
    pytest.importorskip("triton")
    out = _lines(_interpreted(SELF_CHECK, "good").stdout)
    first, again, status, launches = out["RESULT"]
    assert (first, again, status) == ("triton", "triton", "('triton', None)")
    # Self-check: 1 forward + 1 backward; the module's forward + backward after it: 1 + 1 more.
    assert launches == "{'forward': 2, 'backward': 2}"
    assert out["WARNINGS"] == ["0"]
    assert out["LOGLINE"] == ["None"]


def test_a_kernel_with_wrong_numbers_falls_back_with_one_warning():
    pytest.importorskip("triton")
    out = _lines(_interpreted(SELF_CHECK, "wrong").stdout)
    first, again, status, launches = out["RESULT"]
    assert (first, again) == ("pytorch", "pytorch")
    assert status.startswith("('pytorch', 'the Triton kernel disagrees") and "max difference 0.001" in status
    # Only the self-check ran the kernel; the module's forward/backward took the reference path.
    assert launches == "{'forward': 1, 'backward': 1}"
    count, *messages = out["WARNINGS"]
    assert count == "1" and "max difference 0.001" in messages[0] and "PyTorch reference" in messages[0]
    assert "max difference 0.001" in out["LOGLINE"][0] and "not the Triton kernel" in out["LOGLINE"][0]


def test_a_missing_triton_falls_back_with_one_warning():
    out = _lines(_interpreted(SELF_CHECK, "no-triton").stdout)
    first, again, status, launches = out["RESULT"]
    assert (first, again) == ("pytorch", "pytorch")
    assert "Triton does not import (" in status
    assert launches == "{}"
    count, *messages = out["WARNINGS"]
    assert count == "1" and "Triton does not import" in messages[0]
    assert "Triton does not import" in out["LOGLINE"][0]


def test_a_kernel_that_fails_to_launch_is_reported(monkeypatch):
    """A compile/launch error inside the kernel call is caught by the self-check and named (no Triton needed)."""
    import types

    from motip.model import ms_deform_attn as mda

    def broken(*args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    fake = types.ModuleType("motip.model.ms_deform_attn_triton")
    fake.ms_deform_attn_triton = broken
    monkeypatch.setitem(sys.modules, "motip.model.ms_deform_attn_triton", fake)
    import motip.model
    monkeypatch.setattr(motip.model, "ms_deform_attn_triton", fake, raising=False)
    reason = mda.kernel_self_check("cpu")
    assert reason is not None and "failed to run (RuntimeError: CUDA error: an illegal memory access" in reason


def test_override_forces_the_reference_without_a_check(monkeypatch):
    from motip.model import ms_deform_attn as mda
    monkeypatch.setenv("MOTIP_DEFORM_ATTN", "pytorch")
    monkeypatch.setattr(mda, "_CHOICE", {})
    assert mda.select_kernel("cuda") == "pytorch"  # no CUDA needed: nothing is checked or launched
    assert mda._CHOICE == {} and mda.kernel_warning() is None
    monkeypatch.delenv("MOTIP_DEFORM_ATTN")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert mda.select_kernel("cpu") == "pytorch" and mda.kernel_status("cpu") == ("pytorch", None)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_triton_kernel_matches_reference_on_gpu():
    result = subprocess.run([sys.executable, "-c", CHECK, "cuda"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_self_check_passes_on_gpu():
    from motip.model import ms_deform_attn as mda
    assert mda.kernel_self_check("cuda") is None


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
    from motip.model import ms_deform_attn as mda
    from motip.model.ms_deform_attn_triton import LAUNCHES
    assert mda.kernel_status("cuda") == ("triton", None)  # passed its self-check on this GPU
    assert LAUNCHES["forward"] >= 2 and LAUNCHES["backward"] >= 2  # self-check + the "auto" pass really ran it
    torch.testing.assert_close(outs["auto"][0], outs["pytorch"][0], rtol=1e-4, atol=1e-4)
    for a, b in zip(outs["auto"][1], outs["pytorch"][1]):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


def test_reference_core_zero_outside_the_map():
    value = torch.ones(1, 4, 1, 2)
    loc = torch.full((1, 1, 1, 1, 1, 2), 1.5)  # far outside
    out = ms_deform_attn_core_pytorch(value, [(2, 2)], loc, torch.ones(1, 1, 1, 1, 1))
    assert out.abs().max().item() == 0.0


def test_trainer_writes_a_fallback_as_one_warning_line_in_train_log(tmp_path, monkeypatch):
    """The trainer's kernel line: a fallback decided for the run's device is one [warning] line in train.log."""
    import types

    from motip.engine.train import Trainer
    from motip.model import ms_deform_attn as mda
    from motip.trainlog import TrainLogWriter

    reason = "the Triton kernel disagrees with the PyTorch reference: max difference 0.5 in the output"
    monkeypatch.setattr(mda, "_CHOICE", {"cpu": ("pytorch", reason)})  # as select_kernel records a fallback
    monkeypatch.delenv("MOTIP_DEFORM_ATTN", raising=False)
    log = tmp_path / "train.log"
    writer = TrainLogWriter(log, enabled=True)
    Trainer._log_kernel(types.SimpleNamespace(writer=writer), torch.device("cpu"))
    writer.close()
    lines = [line for line in log.read_text().splitlines() if "[warning]" in line]
    assert len(lines) == 1 and "max difference 0.5" in lines[0] and "PyTorch reference path" in lines[0]
    # A kernel that passed its check writes nothing.
    monkeypatch.setattr(mda, "_CHOICE", {"cpu": ("triton", None)})
    writer = TrainLogWriter(tmp_path / "ok.log", enabled=True)
    Trainer._log_kernel(types.SimpleNamespace(writer=writer), torch.device("cpu"))
    writer.close()
    ok_log = tmp_path / "ok.log"
    assert not ok_log.exists() or "[warning]" not in ok_log.read_text()
