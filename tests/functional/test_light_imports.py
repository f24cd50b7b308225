"""The TUI and `motip --help` load neither torch nor cv2 (each costs seconds over SSH), and the machine view works
without nvidia-ml-py (the optional `gpu` extra). bench/startup.py times the same imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "torchvision", "cv2", "matplotlib", "trackeval")


def loaded_after(code: str) -> list[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_tui_loads_no_heavy_module() -> None:
    assert loaded_after("import motip_tui, motip_tui.app, motip_tui.__main__") == []


def test_motip_help_loads_no_heavy_module() -> None:
    code = ("import contextlib, io\nfrom motip.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
            "    main(['--help'])\nassert 'usage' in out.getvalue()")
    assert loaded_after(code) == []


def test_the_machine_view_works_without_nvidia_ml_py(tmp_path: Path) -> None:
    code = ("sys.modules['pynvml'] = None  # `import pynvml` raises ImportError, as without the gpu extra\n"
            "from pathlib import Path\nfrom motip_tui.machine import Machine\n"
            f"machine = Machine(Path({str(tmp_path)!r}))\nassert machine.gpus() == []\n"
            "sample = machine.sample([])\nassert sample.gpus == [] and sample.disk_free_gb > 0")
    assert loaded_after(code) == []
