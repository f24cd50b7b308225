"""The demo's Stage 1 is reproducible: the same seed on the same machine gives the same losses and metrics, through
bench/train_tiny.py (which also runs here end to end at a tiny size, so it cannot rot)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.train_tiny import demo_workspace
from tests.helpers.paths import REPO


def test_same_seed_same_numbers_and_bench_figures(tmp_path: Path) -> None:
    folder = demo_workspace(tmp_path, 0)  # the bench reuses this workspace: its val set cut to one video here
    names = (folder / "datasets" / "DanceTrack" / "val_seqmap.txt").read_text().split()[1:]
    seqmap = folder / "val_one_seqmap.txt"
    seqmap.write_text(f"name\n{next(n for n in names if n.startswith('bdd'))}\n")
    result = subprocess.run([sys.executable, str(REPO / "bench" / "train_tiny.py"), "--seeds", "0", "0", "--workdir",
                             str(tmp_path), "--json", "--", "--EPOCHS", "1", "--MAX_STEPS_PER_EPOCH", "3",
                             "--val_config.SEQMAP_FILE", str(seqmap)],
                            cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["seeds"] == [0, 0]
    assert figures["same_numbers"] is True  # every loss and every eval metric identical
    assert len(set(figures["first_hota"])) == 1 and all(0 <= h <= 100 for h in figures["last_hota"])
    assert all(c > 0 for c in figures["cpu_s"]) and isinstance(figures["all_learned"], bool)
    runs = sorted(p for p in (folder / "outputs").glob("bench_*") if p.is_dir())
    assert len(runs) == 2
    logs = [[line.split(" ", 1)[1] for line in (run / "train.log").read_text().splitlines() if "[train]" in line]
            for run in runs]
    # the step lines without their times: losses, norms, LRs (s_per_step is timing, the one field that may differ)
    strip = [[" ".join(f for f in line.split() if not f.startswith("s_per_step=")) for line in log] for log in logs]
    assert len(strip[0]) == 3 and strip[0] == strip[1]
