"""Machine panel data: CPU/RAM/disk of the box and of each job (psutil), GPUs via nvidia-ml-py (none -> empty)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import psutil

from motip.jobs import JobInfo


@dataclass
class GpuSample:
    index: int
    name: str
    util: float
    mem_used_gb: float
    mem_total_gb: float
    temp_c: float


@dataclass
class JobUsage:
    name: str
    cpu: float
    rss_gb: float


@dataclass
class MachineSample:
    cpu: float
    ram_used_gb: float
    ram_total_gb: float
    disk_free_gb: float | None
    disk_total_gb: float | None
    gpus: list[GpuSample] = field(default_factory=list)
    jobs: list[JobUsage] = field(default_factory=list)


class Machine:
    """Samples on demand; keeps the psutil Process objects so per-process CPU% is measured between samples."""

    def __init__(self, disk_path: Path) -> None:
        self.disk_path = disk_path
        self._procs: dict[int, psutil.Process] = {}
        self._nvml = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
        except Exception:  # noqa: BLE001 -- no driver, no GPU, no library: the GPU panel is hidden
            self._nvml = None
        psutil.cpu_percent(None)

    def gpus(self) -> list[GpuSample]:
        if self._nvml is None:
            return []
        nv = self._nvml
        samples = []
        try:
            for index in range(nv.nvmlDeviceGetCount()):
                handle = nv.nvmlDeviceGetHandleByIndex(index)
                mem = nv.nvmlDeviceGetMemoryInfo(handle)
                name = nv.nvmlDeviceGetName(handle)
                samples.append(GpuSample(index, name.decode() if isinstance(name, bytes) else str(name),
                                         float(nv.nvmlDeviceGetUtilizationRates(handle).gpu),
                                         mem.used / 1e9, mem.total / 1e9,
                                         float(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU))))
        except Exception:  # noqa: BLE001 - NVML errors differ by driver; the view shows the GPUs read so far
            return samples
        return samples

    def _job_usage(self, job: JobInfo) -> JobUsage | None:
        root = job.process() or job.child_process()  # a training outlives a killed supervisor
        if root is None:
            return None
        cpu = rss = 0.0
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return None
        for member in members:
            proc = self._procs.setdefault(member.pid, member)
            try:
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
            except psutil.Error:
                self._procs.pop(member.pid, None)
        return JobUsage(job.name, cpu, rss / 1e9)

    def sample(self, jobs: list[JobInfo]) -> MachineSample:
        mem = psutil.virtual_memory()
        try:
            disk = psutil.disk_usage(str(self.disk_path))
            free, total = disk.free / 1e9, disk.total / 1e9
        except OSError:
            free = total = None
        usage = [u for u in (self._job_usage(j) for j in jobs if j.state == "running") if u is not None]
        return MachineSample(psutil.cpu_percent(None), mem.used / 1e9, mem.total / 1e9, free, total, self.gpus(), usage)
