"""Frame budgets: which videos (and which part of the last one) fill each source's training budget.

Pool = the videos with ground truth in the configured splits, minus every manifest-locked video. A seeded shuffle of
the pool is taken whole, video by video; the video that would overflow the budget is cut to a contiguous clip (seeded
start) that fills it exactly. With ``frame_stride`` s, a video contributes every s-th frame and the budget counts the
kept frames. The plan never holds more frames than the budget; a budget larger than the pool is an error.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from motip.data.settings import SourceSettings
from motip.data.video import VideoRef
from motip.errors import ConfigError
from motip.workspace import key_line


@dataclass(frozen=True)
class Clip:
    """Frames ``first, first+stride, ...`` (``length`` of them) of a source video, as one output sequence."""

    video: VideoRef
    first: int = 1
    length: int = 0        # 0: the whole video
    stride: int = 1

    @property
    def frames(self) -> range:
        length = self.length or strided_length(self.video.num_frames, self.stride)
        return range(self.first, self.first + self.stride * length, self.stride)

    @property
    def is_whole(self) -> bool:
        return self.first == 1 and self.stride == 1 and self.length in (0, self.video.num_frames)

    @property
    def sequence_name(self) -> str:
        name = f"{self.video.source}-{self.video.video_id}"
        if self.is_whole:
            return name
        frames = self.frames
        name += f"-f{frames[0]:06d}-{frames[-1]:06d}"
        return name + (f"-s{self.stride}" if self.stride > 1 else "")


def strided_length(num_frames: int, stride: int) -> int:
    return (num_frames + stride - 1) // stride


@dataclass(frozen=True)
class Selection:
    source: str
    budget: int
    clips: tuple[Clip, ...]
    pool_videos: int
    pool_frames: int       # after the stride

    @property
    def used(self) -> int:
        return sum(len(c.frames) for c in self.clips)


def training_pool(videos: list[VideoRef], settings: SourceSettings, locked: set[str]) -> list[VideoRef]:
    pool = [v for v in videos if v.split in settings.splits and v.has_gt and v.video_id not in locked
            and v.num_frames > 0]
    return sorted(pool, key=lambda v: (v.split, v.video_id))   # listing order must not change the draw


def select(pool: list[VideoRef], settings: SourceSettings, seed: int, config_path: object = None) -> Selection:
    stride = settings.frame_stride
    pool_frames = sum(strided_length(v.num_frames, stride) for v in pool)
    budget = settings.frame_budget
    if budget > pool_frames:
        raise ConfigError(
            f"[{settings.table}] frame_budget: {budget} frames asked but the pool holds only {pool_frames} "
            f"({len(pool)} videos with ground truth in splits {list(settings.splits)}, manifest-locked videos "
            f"excluded{f', frame_stride {stride}' if stride > 1 else ''})",
            path=config_path, line=key_line(config_path, f"{settings.table}.frame_budget") if config_path else None,
            hint=f"lower frame_budget to at most {pool_frames}, or add splits to [{settings.table}] splits")
    rng = random.Random(f"{seed}:{settings.name}")   # one stream per source: enabling another source changes nothing
    order = list(pool)
    rng.shuffle(order)
    clips: list[Clip] = []
    remaining = budget
    for video in order:
        if remaining == 0:
            break
        length = strided_length(video.num_frames, stride)
        if length <= remaining:
            clips.append(Clip(video, 1, length, stride))
            remaining -= length
        else:
            span = stride * (remaining - 1) + 1            # source frames covered by the clip
            first = rng.randint(1, video.num_frames - span + 1)
            clips.append(Clip(video, first, remaining, stride))
            remaining = 0
    return Selection(settings.name, budget, tuple(clips), len(pool), pool_frames)
