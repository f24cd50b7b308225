"""Clip sampling per epoch, as the official ``NaiveSampler``: every legal clip start of every sequence, shuffled.

For epoch ``e`` (0-based) the clip length and max interval are the SAMPLE_LENGTHS/SAMPLE_INTERVALS entry of the
last SAMPLE_STEPS value <= e. A clip starting at frame ``f`` takes frames ``f, f+k, f+2k, ...`` with ``k`` drawn
from 1..interval (shortened near the end of the sequence); clips with an illegal frame (no objects, duplicate ids)
are skipped. The draw is seeded by ``seed + epoch`` so every DDP rank sees the same list, then each rank takes
``items[rank::world_size]`` (cut to an equal length, so all ranks run the same number of steps).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Sampler

from motip.data.dataset import BuiltDataset


def clip_settings(epoch: int, steps: list[int], lengths: list[int], intervals: list[int]) -> tuple[int, int]:
    """(sample length, max interval) in force at 0-based ``epoch``."""
    if not (len(steps) == len(lengths) == len(intervals)):
        raise ValueError("SAMPLE_STEPS, SAMPLE_LENGTHS and SAMPLE_INTERVALS must have the same length")
    chosen = None
    for step, length, interval in zip(steps, lengths, intervals):
        if epoch >= step:
            chosen = (length, interval)
    if chosen is None:
        raise ValueError(f"no SAMPLE_STEPS entry covers epoch {epoch} (the first entry must be 0)")
    return chosen


class ClipSampler(Sampler):
    def __init__(self, dataset: BuiltDataset, sample_steps: list[int], sample_lengths: list[int],
                 sample_intervals: list[int], seed: int, rank: int = 0, world_size: int = 1,
                 length_per_iteration: int | None = None) -> None:
        super().__init__()
        self.dataset = dataset
        self.steps, self.lengths, self.intervals = list(sample_steps), list(sample_lengths), list(sample_intervals)
        clip_settings(0, self.steps, self.lengths, self.intervals)  # validate early
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.length_per_iteration = length_per_iteration
        self.items: list[dict[str, Any]] = []

    def prepare_for_epoch(self, epoch: int) -> None:
        length, max_interval = clip_settings(epoch, self.steps, self.lengths, self.intervals)
        rng = random.Random(self.seed + epoch)
        items: list[dict[str, Any]] = []
        for key, info in self.dataset.sequences.items():
            legal = self.dataset.is_legal[key]
            for begin in range(info.length):
                if begin + length > info.length:
                    break
                remain = info.length - begin - 1
                fit = remain // (length - 1) if length > 1 else 1
                interval = min(rng.randint(1, max_interval), fit)
                frame_idxs = [begin + interval * i for i in range(length)]
                if bool(legal[frame_idxs].all()):
                    items.append({"dataset": key[0], "split": key[1], "sequence": key[2], "frame_idxs": frame_idxs})
        if self.length_per_iteration:
            items = items[: int(len(items) // max(length // self.length_per_iteration, 1))]
        generator = torch.Generator().manual_seed(self.seed + epoch)
        order = torch.randperm(len(items), generator=generator).tolist()
        items = [items[i] for i in order]
        per_rank = len(items) // self.world_size if self.world_size > 1 else len(items)
        self.items = items[self.rank::self.world_size][:per_rank]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def steps_in_epoch(num_items: int, batch_size: int, max_steps: int | None) -> int:
    steps = math.ceil(num_items / batch_size)
    return min(steps, max_steps) if max_steps else steps
