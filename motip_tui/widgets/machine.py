"""The Machine view: CPU/RAM/disk of the box, each GPU (NVML), and each running job's process tree.

Sampling (psutil, NVML) runs in a thread worker every ``sample_s`` and posts ``MachineSampled``; the view draws the
sample and posts the machine alerts (low disk, GPU idle while training) as ``AlertsChanged("machine", ...)``.
``freeze(sample)`` stops sampling and shows a fixed sample (snapshot tests).
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from motip.alerts import gpu_idle, machine_alerts
from motip.jobs import JobInfo
from motip_tui.machine import Machine, MachineSample
from motip_tui.messages import AlertsChanged, MachineSampled
from motip_tui.widgets.background import Periodic
from motip_tui.widgets.text import end, fmt, middle, update_text


class MachineView(VerticalScroll):
    def __init__(self, root: Path, *, sample_s: float = 5.0, id: str | None = None) -> None:  # noqa: A002 - Textual's widget `id`
        super().__init__(id=id)
        self.root = root
        self.sample_s = sample_s
        self.machine: Machine | None = None  # made in the worker: NVML's init is slow
        self.sample: MachineSample | None = None
        self.running: list[JobInfo] = []  # the running jobs (set by the App from the Jobs view's scan)
        self.idle_gpu_samples = 0
        self._alerts: list[str] = []
        self.frozen = False

    def compose(self) -> ComposeResult:
        yield Static("sampling...", id="machine-text")

    def on_mount(self) -> None:
        self._reader = Periodic("machine-sample", self.take_sample, self.sample_s).start()

    def on_unmount(self) -> None:
        self._reader.stop()

    def take_sample(self) -> None:
        """The reader thread's job: one psutil/NVML sample."""
        if self.machine is None:
            self.machine = Machine(self.root)
        self.post_message(MachineSampled(self.machine.sample(list(self.running))))

    def freeze(self, sample: MachineSample) -> None:
        self.frozen = True
        self._reader.stop()
        self.show(sample)

    def on_show(self) -> None:
        if self.sample is not None:
            self.draw()

    def on_machine_sampled(self, message: MachineSampled) -> None:
        if self.frozen:
            return
        self.show(message.sample)

    def on_resize(self) -> None:
        if self.sample is not None:
            self.draw()

    def show(self, sample: MachineSample) -> None:
        self.sample = sample
        training = any(j.kind == "train" for j in self.running)
        self.idle_gpu_samples = self.idle_gpu_samples + 1 if training and gpu_idle([g.util for g in sample.gpus]) \
            else 0
        alerts = machine_alerts(sample.disk_free_gb, [g.util for g in sample.gpus], training, self.idle_gpu_samples)
        if [a.text for a in alerts] != self._alerts:
            self._alerts = [a.text for a in alerts]
            self.post_message(AlertsChanged("machine", alerts))
        if self.display and getattr(self.parent, "display", True):
            self.draw()  # else when shown (on_show)

    def draw(self) -> None:
        sample = self.sample
        assert sample is not None
        width = max(40, self.size.width - 2)
        lines = [f"CPU {sample.cpu:5.1f}%   RAM {sample.ram_used_gb:.1f}/{sample.ram_total_gb:.1f} GB",
                 f"disk free {fmt(sample.disk_free_gb, '{:.1f}')}/{fmt(sample.disk_total_gb, '{:.0f}')} GB "
                 "(the workspace's disk)"]
        for gpu in sample.gpus:
            lines.append(f"GPU{gpu.index} {end(gpu.name, 24)}: {gpu.util:3.0f}%  "
                         f"{gpu.mem_used_gb:.1f}/{gpu.mem_total_gb:.1f} GB  {gpu.temp_c:.0f}C")
        if not sample.gpus:
            lines.append("(no GPU found: GPU panel hidden)")
        for usage in sample.jobs:
            lines.append(f"job {middle(usage.name, width - 32)}: CPU {usage.cpu:4.0f}%  RSS {usage.rss_gb:.2f} GB")
        update_text(self.query_one("#machine-text", Static), "\n".join(lines))
