"""The constructed `motip viz` case shared by the viz tests: one ID switch, one false positive, one miss and an
ignore region on a grey 640x360 sequence, as MOTChallenge files (gt, ignore, tracker results)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

W, H, FRAMES = 640, 360, 20
BACKGROUND = (128, 128, 128)
GT1 = (60, 200, 110, 130)     # tracked by id 1 up to frame 9, by id 5 from frame 10: one ID switch
GT2 = (300, 130, 100, 120)    # tracked by id 2 except frame 15: one miss
FP_BOX = (450, 250, 90, 80)   # id 9 on frame 5 only: one false positive
IGNORE = (500, 40, 120, 100)  # ignore region, id 7 sits on it every frame: not counted
SWITCH_FRAME, MISS_FRAME, FP_FRAME = 10, 15, 5


def mot_row(frame: int, ident: int, box: tuple[int, int, int, int], tail: str) -> str:
    return f"{frame},{ident},{box[0]},{box[1]},{box[2]},{box[3]},{tail}\n"


def make_case(root: Path, *, tracker_text: str | None = None) -> tuple[Path, Path]:
    split = root / "val"
    seq = split / "seq01"
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    image = np.full((H, W, 3), BACKGROUND, np.uint8)
    for t in range(1, FRAMES + 1):
        cv2.imwrite(str(seq / "img1" / f"{t:08d}.jpg"), image)
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname=seq01\nimDir=img1\nframeRate=10\nseqLength={FRAMES}\n"
                                     f"imWidth={W}\nimHeight={H}\nimExt=.jpg\n")
    gt = "".join(mot_row(t, 1, GT1, "1,1,1") + mot_row(t, 2, GT2, "1,1,1") for t in range(1, FRAMES + 1))
    (seq / "gt" / "gt.txt").write_text(gt)
    (seq / "gt" / "ignore.txt").write_text("".join(mot_row(t, -1, IGNORE, "0,-1,-1") for t in range(1, FRAMES + 1)))
    results = root / "results"
    results.mkdir()
    if tracker_text is None:
        rows = []
        for t in range(1, FRAMES + 1):
            rows.append(mot_row(t, 1 if t < SWITCH_FRAME else 5, GT1, "0.9,1,-1,-1"))
            if t != MISS_FRAME:
                rows.append(mot_row(t, 2, GT2, "0.9,1,-1,-1"))
            rows.append(mot_row(t, 7, (510, 50, 60, 50), "0.8,1,-1,-1"))
            if t == FP_FRAME:
                rows.append(mot_row(t, 9, FP_BOX, "0.7,1,-1,-1"))
        tracker_text = "".join(rows)
    (results / "seq01.txt").write_text(tracker_text)
    return split, results
