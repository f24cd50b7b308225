"""Benchmark of motip-tui, headless: startup time, idle CPU, opening a 500,000-line train.log, append-to-chart latency.

Run: .venv/bin/python bench/tui.py [--lines 500000] [--idle-s 10]
Targets (issue 13): startup to first frame <= 0.7 s, a 500k-line train.log's first charts <= 1 s, append-to-chart
<= 0.1 s, idle CPU <= 1% (on a 2-core box). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """\
[dancetrack]
enabled = true
frame_budget = 5000
[bdd]
enabled = true
frame_budget = 5000
[builder]
seed = 42
[[stages]]
name = "Foundation"
config = "configs/stage1.yaml"
budgets = { bdd = 5000, dancetrack = 5000 }
epochs = 10
hours_per_epoch = 2.05
cost_per_hour = 1.212
"""


def train_line(step: int, steps_per_epoch: int = 5000) -> str:
    epoch = step // steps_per_epoch + 1
    return (f"2026-11-24T10:00:00 [train] epoch={epoch} step={step % steps_per_epoch + 1} "
            f"total_steps={steps_per_epoch} "
            f"global_step={step} loss={2.0 + 1.0 / (1 + step / 1000):.5f} loss_cls=0.5 loss_bbox=0.3 loss_giou=0.4 "
            f"loss_id=0.8 grad_norm={1.0 + (step % 97) / 10:.4f} lr=2e-05 s_per_step=1.42\n")


def make_workspace(root: Path, lines: int) -> Path:
    (root / "configs").mkdir(parents=True)
    (root / "configs" / "stage1.yaml").write_text("EPOCHS: 10\n")
    (root / "config.toml").write_text(CONFIG)
    run = root / "outputs" / "stage1_20261124_100000"
    run.mkdir(parents=True)
    with open(run / "train.log", "w", encoding="utf-8") as handle:
        handle.write('2026-11-24T10:00:00 [start] run="outputs/stage1_20261124_100000" '
                     'config="configs/stage1.yaml" epochs=10 pid=1\n')
        for step in range(1, lines):
            handle.write(train_line(step))
            if step % 5000 == 0:
                handle.write(f"2026-11-24T11:00:00 [eval] epoch={step // 5000} HOTA={50 + step / 50000:.2f} "
                             f"IDF1={52 + step / 50000:.2f} pedestrian.HOTA=55.0\n")
    return root / "config.toml"


BARE_TEXTUAL_APP = """\
from textual.app import App
from textual.widgets import DataTable, Footer, TabbedContent, TabPane


class Bare(App):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self):
        with TabbedContent():
            for index, name in enumerate(("Stages", "Budgets", "Charts", "Jobs", "Machine")):
                with TabPane(f"{index + 1} {name}"):
                    yield DataTable()
        yield Footer()

    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_columns(" stage ", "budgets")
        table.add_row("Foundation", "BDD 5k+DT 5k")


Bare().run()
"""


def first_frame_s(argv: list[str], repeats: int = 5, size: tuple[int, int] = (80, 24)) -> list[float]:
    """What the user waits for: ``argv`` (``motip-tui --config X``) started in a pseudo-terminal (a real terminal
    driver, not headless) until its first complete frame is on the terminal: the view tabs, the stage table's header
    and the key bar all written. Seconds from the spawn, one per run; each run is then ended with SIGTERM."""
    import fcntl
    import pty
    import re
    import select
    import signal
    import struct
    import termios

    markers = ("Stages", " stage ", "Quit")
    escapes = re.compile(rb"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07]*\x07|[()][0-9A-B])")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:  # the child: the terminal's size is set before the app asks for it
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
            os.environ["TERM"] = "xterm-256color"
            os.execv(argv[0], argv)
        screen, seen = b"", None
        while seen is None and time.perf_counter() - start < 30:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                screen += os.read(fd, 1 << 16)
            except OSError:
                break
            text = escapes.sub(b"", screen).decode("utf-8", errors="replace")
            if all(marker in text for marker in markers):
                seen = time.perf_counter() - start
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        os.close(fd)
        if seen is None:
            raise SystemExit(f"{argv} never drew its first frame; its output ended with {screen[-300:]!r}")
        times.append(seen)
    return times


def startup_to_idle_s(config: Path, repeats: int = 3) -> list[float]:
    """A fresh interpreter, headless: import, compose, every startup message handled, close, and the interpreter's
    exit (an upper bound of the wait: more than the first frame)."""
    code = ("import asyncio, sys\nfrom pathlib import Path\nfrom motip_tui.app import MotipApp\n"
            "async def main():\n    app = MotipApp(Path(sys.argv[1]))\n"
            "    async with app.run_test(size=(80, 24)) as pilot:\n        await pilot.pause()\n"
            "    assert 'torch' not in sys.modules\nasyncio.run(main())\n")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, str(config)], check=True)
        times.append(time.perf_counter() - start)
    return times


async def idle_cpu_percent(idle_s: float) -> float:
    """This process's CPU use (all threads, %) over ``idle_s`` seconds of nothing changing, after 1 s to settle."""
    import psutil

    process = psutil.Process()
    await asyncio.sleep(1.0)
    cpu0, t0 = process.cpu_times(), time.perf_counter()
    await asyncio.sleep(idle_s)
    cpu1, t1 = process.cpu_times(), time.perf_counter()
    return 100 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (t1 - t0)


async def in_app(config: Path, lines: int, idle_s: float) -> dict[str, float | list[float]]:
    from motip_tui.app import MotipApp
    from motip_tui.widgets.charts import Chart

    results: dict[str, float | list[float]] = {}
    start = time.perf_counter()
    cpu_start = time.process_time()
    app = MotipApp(config)  # default refresh (0.25 s), poll (0.5 s) and watchdog: what the user runs
    async with app.run_test(size=(120, 40)) as pilot:
        # The key is typed at once; its press() returns only when the app is idle (never while a big log loads), so
        # the charts are watched meanwhile.
        press = asyncio.ensure_future(pilot.press("3"))
        charts = app.charts  # motip_tui.widgets.charts_view.ChartsView
        loss = app.query_one("#chart-loss", Chart)
        evals = app.query_one("#chart-eval", Chart)

        def drawn_all() -> bool:
            watch = charts.watches[0] if charts.watches else None
            return (watch is not None and len(watch.steps) >= lines - 1 and loss.points > 0 and not watch.loading
                    and charts.drawn_versions[:1] == (watch.version,))
        first = None
        while not drawn_all():
            await asyncio.sleep(0.01)
            if first is None and evals.points > 0 and loss.points > 0:
                first = time.perf_counter() - start  # a big log: evals + last steps (preview) drawn
            if time.perf_counter() - start > 120:
                raise SystemExit("the big log never finished loading")
        results["open_s"] = time.perf_counter() - start  # app start to charts drawn with every line
        await press
        results["first_chart_s"] = first if first is not None else results["open_s"]
        results["open_cpu_s"] = time.process_time() - cpu_start  # all threads: the work, whatever the box's load

        # Idle: nothing changes; the process should hardly use the CPU.
        results["idle_cpu_percent"] = await idle_cpu_percent(idle_s)

        latencies = []
        watch = charts.watches[0]
        path = watch.path
        step = lines
        for _ in range(10):
            before = len(watch.steps)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(train_line(step))
            written = time.perf_counter()
            step += 1
            while not (len(watch.steps) > before and charts.drawn_versions[:1] == (watch.version,)):
                await asyncio.sleep(0.005)
            latencies.append(time.perf_counter() - written)
            await asyncio.sleep(0.3)
        results["append_latency_s"] = latencies
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--idle-s", type=float, default=10.0)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (figures include that contention)")
    with tempfile.TemporaryDirectory() as tmp:
        small = make_workspace(Path(tmp) / "small", 1000)
        made = time.perf_counter()
        big = make_workspace(Path(tmp) / "big", args.lines)
        size_mb = (big.parent / "outputs" / "stage1_20261124_100000" / "train.log").stat().st_size / 1e6
        print(f"wrote {args.lines:,}-line train.log ({size_mb:.0f} MB) in {time.perf_counter() - made:.1f} s")
        bare = Path(tmp) / "bare_textual_app.py"
        bare.write_text(BARE_TEXTUAL_APP)
        motip_tui = [str(Path(sys.executable).with_name("motip-tui")), "--config", str(small)]
        ours, floor = first_frame_s(motip_tui), first_frame_s([sys.executable, str(bare)])
        for label, times in (("startup to first frame (motip-tui in a pseudo-terminal, 80x24)", ours),
                             ("  the same for a bare Textual app (5 tabs, a table, a footer): the floor", floor),
                             ("startup to idle and exit (headless, fresh interpreter)", startup_to_idle_s(small))):
            print(f"{label}: median {statistics.median(times):.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")
        print(f"  motip-tui / bare Textual app, first frame: {statistics.median(ours) / statistics.median(floor):.2f}")
        for label, config, lines in (("1,000-line log", small, 1000), (f"{args.lines:,}-line log", big, args.lines)):
            results = asyncio.run(in_app(config, lines, args.idle_s))
            lat = results["append_latency_s"]
            assert isinstance(lat, list)
            print(f"{label}: app start to first charts with evals {results['first_chart_s']:.2f} s, "
                  f"to every line drawn {results['open_s']:.2f} s (process CPU {results['open_cpu_s']:.2f} s); "
                  f"idle CPU {results['idle_cpu_percent']:.1f}% "
                  f"over {args.idle_s:.0f} s; append-to-chart latency median {statistics.median(lat) * 1000:.0f} ms, "
                  f"max {max(lat) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
