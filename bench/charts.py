"""Benchmark of the Charts view (motip_tui.widgets.charts_view.ChartsView) alone, headless, in a bare host app.

Run: .venv/bin/python bench/charts.py [--lines 500000] [--idle-s 5] [--size 80x24] [--json]
Targets (issue 13): a 500,000-line train.log's first charts <= 1 s, append-to-chart <= 0.1 s, idle CPU near zero.
Prints figures; asserts nothing. Figures: show_runs to the first charts with evals (a big log's preview: every event
+ the last 4 MB of steps), to every line drawn, then the same with a second run overlaid; idle CPU of the process
with the view shown; append-to-chart latency (a line written, the view redrawn with it), smoothing on (default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tui import idle_cpu_percent, train_line  # the same synthetic [train] line as bench/tui.py (both run from bench/)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STEPS_PER_EPOCH = 5000


def write_run(folder: Path, lines: int) -> Path:
    folder.mkdir(parents=True)
    with open(folder / "train.log", "w", encoding="utf-8") as handle:
        handle.write(f'2026-11-24T10:00:00 [start] run="outputs/{folder.name}" config="c.yaml" epochs=100 pid=1\n')
        for step in range(1, lines):
            handle.write(train_line(step))
            if step % STEPS_PER_EPOCH == 0:
                epoch = step // STEPS_PER_EPOCH
                handle.write(f"2026-11-24T11:00:00 [eval] epoch={epoch} HOTA={50 + epoch / 10:.2f} "
                             f"IDF1={52 + epoch / 10:.2f} pedestrian.HOTA=55.0 vehicle.HOTA={48 + epoch / 20:.2f} "
                             "pedestrian.IDF1=57.0 vehicle.IDF1=50.0\n")
    return folder


async def measure(runs: list[Path], lines: int, idle_s: float, size: tuple[int, int]) -> dict[str, object]:
    from textual.app import App, ComposeResult

    from motip_tui.widgets.charts import Chart
    from motip_tui.widgets.charts_view import ChartsView

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield ChartsView(id="charts")  # default refresh (0.25 s), poll (0.5 s) and watchdog: what users run

    results: dict[str, object] = {}
    app = Host()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        view = app.query_one(ChartsView)
        evals, loss = app.query_one("#chart-eval", Chart), app.query_one("#chart-loss", Chart)
        cpu_start = time.process_time()
        start = time.perf_counter()
        view.show_runs(runs[:1])
        first = None
        watch = view.watches[0]
        while not (len(watch.steps) >= lines - 1 and not watch.loading and view.drawn_versions[:1] == (watch.version,)):
            await asyncio.sleep(0.005)
            if first is None and evals.points > 0 and loss.points > 0:
                first = time.perf_counter() - start
                results["first_cpu_s"] = time.process_time() - cpu_start
            if time.perf_counter() - start > 120:
                raise SystemExit("the log never finished loading")
        results["first_s"] = first if first is not None else time.perf_counter() - start
        results.setdefault("first_cpu_s", time.process_time() - cpu_start)
        results["all_s"] = time.perf_counter() - start
        results["all_cpu_s"] = time.process_time() - cpu_start

        results["append_one_s"] = await appends(view, watch, lines)
        if len(runs) > 1:  # a second run overlaid (its own 500k lines)
            start = time.perf_counter()
            view.show_runs(runs)
            while not (len(view.watches) == 2 and len(view.watches[1].steps) >= lines - 1
                       and not view.watches[1].loading and view.drawn_versions[1:2] == (view.watches[1].version,)):
                await asyncio.sleep(0.005)
            results["overlay_s"] = time.perf_counter() - start

        results["idle_cpu_percent"] = await idle_cpu_percent(idle_s)

        results["append_s"] = await appends(view, watch, lines + 10)
        # The redraw itself (what the append latency is made of, besides the tailer's wake-up).
        draw_times = []
        for _ in range(5):
            view._drawn_key = None
            began = time.perf_counter()
            view._tick()
            draw_times.append(time.perf_counter() - began)
        results["draw_s"] = draw_times
    return results


async def appends(view, watch, step: int, count: int = 10) -> tuple[list[float], list[float]]:
    """Per appended step line: seconds until the view has redrawn with it (the event loop comes back to this
    coroutine after Textual rendered the frame, plotext's build included), and the process CPU seconds that took
    (all threads: tailer, parse, draw, render; a figure the box's load does not inflate much)."""
    latencies, cpu = [], []
    for offset in range(count):
        draws = view.draws
        cpu_before = time.process_time()
        with open(watch.path, "a", encoding="utf-8") as handle:
            handle.write(train_line(step + offset))
        written = time.perf_counter()
        while not (watch.steps[-1:] == [float(step + offset)] and view.draws > draws):
            await asyncio.sleep(0.002)
        await asyncio.sleep(0)  # the render
        latencies.append(time.perf_counter() - written)
        cpu.append(time.process_time() - cpu_before)
        await asyncio.sleep(0.3)
    return latencies, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument("--size", default="80x24", help="terminal size, e.g. 80x24 or 120x40")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON object, last line")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (figures include that contention)")
    with tempfile.TemporaryDirectory() as tmp:
        made = time.perf_counter()
        names = ("stage1_20261124_100000", "stage2_20261125_090000")
        runs = [write_run(Path(tmp) / name, args.lines) for name in names]
        size_mb = (runs[0] / "train.log").stat().st_size / 1e6
        print(f"wrote 2 x {args.lines:,}-line train.log ({size_mb:.0f} MB each) in {time.perf_counter() - made:.1f} s")
        r = asyncio.run(measure(runs, args.lines, args.idle_s, size))  # type: ignore[arg-type]
        (append, append_cpu), (append_one, append_one_cpu) = r["append_s"], r["append_one_s"]
        draw = r["draw_s"]
        assert isinstance(draw, list)
        print(f"{args.size}: show_runs to first charts with evals {r['first_s']:.2f} s (process CPU "
              f"{r['first_cpu_s']:.2f} s); to every line drawn "
              f"{r['all_s']:.2f} s (process CPU {r['all_cpu_s']:.2f} s); second run overlaid, drawn in full "
              f"{r['overlay_s']:.2f} s")
        print(f"append-to-chart latency median {statistics.median(append_one) * 1000:.0f} ms, max "
              f"{max(append_one) * 1000:.0f} ms, process CPU median {statistics.median(append_one_cpu) * 1000:.0f} ms "
              f"(one run, EMA on); {statistics.median(append) * 1000:.0f} ms, max {max(append) * 1000:.0f} ms, CPU "
              f"{statistics.median(append_cpu) * 1000:.0f} ms (2 runs overlaid)")
        print(f"idle CPU {r['idle_cpu_percent']:.1f}% over {args.idle_s:.0f} s (2 runs shown); one full redraw "
              f"(draw(), without plotext's render) median {statistics.median(draw) * 1000:.0f} ms")
        if args.json:
            figures = {key: r[key] for key in ("first_s", "first_cpu_s", "all_s", "all_cpu_s", "overlay_s",
                                               "idle_cpu_percent")}
            figures.update(append_median_s=statistics.median(append_one), append_max_s=max(append_one),
                           append_cpu_median_s=statistics.median(append_one_cpu),
                           append_overlaid_median_s=statistics.median(append), draw_median_s=statistics.median(draw),
                           lines=args.lines, size=args.size, load_average=os.getloadavg()[0])
            print(json.dumps(figures))


if __name__ == "__main__":
    main()
