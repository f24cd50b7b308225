"""Import cost of what a user starts over SSH: `motip_tui.app` (the TUI) and `motip --help`, each in a fresh
interpreter, next to `import torch` for scale. tests/functional/test_light_imports.py checks that neither loads torch
or cv2.

Run: .venv/bin/python bench/startup.py [--repeat 5] [--json]
Prints the median seconds of each; with --json the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PROBES = {
    "import_motip_tui_app_s": "import motip_tui.app",
    "motip_help_s": "import contextlib, io\nfrom motip.cli import main\n"
                    "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
                    "    main(['--help'])",
    "import_torch_s": "import torch",
}


def median_s(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="fresh interpreters per probe (median reported)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    args = parser.parse_args()
    figures: dict[str, float] = {name: round(median_s(code, args.repeat), 3) for name, code in PROBES.items()}
    figures["load_avg"] = round(os.getloadavg()[0], 2)
    for name, value in figures.items():
        print(f"{name:24} {value}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
