"""Writing tiny MOTChallenge splits and tracker files for the eval tests (real files on disk)."""

from __future__ import annotations

from pathlib import Path

Row = tuple  # (frame, id, x, y, w, h[, conf/score, class, vis])


def write_seq(split_dir: Path, name: str, length: int, gt: list[Row], ignore: list[Row] | None = None) -> Path:
    seq = split_dir / name
    (seq / "gt").mkdir(parents=True, exist_ok=True)
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nimDir=img1\nframeRate=10\nseqLength={length}\n"
                                     "imWidth=1000\nimHeight=1000\nimExt=.jpg\n", encoding="utf-8")
    (seq / "gt" / "gt.txt").write_text("".join(",".join(str(v) for v in r) + "\n" for r in gt), encoding="utf-8")
    if ignore is not None:
        (seq / "gt" / "ignore.txt").write_text("".join(f"{f},-1,{x},{y},{w},{h},0,-1,-1\n" for f, x, y, w, h in ignore),
                                               encoding="utf-8")
    return seq


def write_seqmap(split_dir: Path, names: list[str]) -> Path:
    path = split_dir.parent / f"{split_dir.name}_seqmap.txt"
    path.write_text("name\n" + "".join(f"{n}\n" for n in names), encoding="utf-8")
    return path


def write_tracker(folder: Path, name: str, rows: list[Row]) -> Path:
    """rows: (frame, id, x, y, w, h, score, class)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    path.write_text("".join(",".join(str(v) for v in r) + ",-1,-1\n" for r in rows), encoding="utf-8")
    return path


def two_walkers(length: int = 10, cls: int = 1) -> list[Row]:
    """GT: object 1 at x=100+10t, object 2 at x=500+10t, both 50x100, visible every frame."""
    rows = []
    for t in range(1, length + 1):
        rows.append((t, 1, 100 + 10 * t, 100, 50, 100, 1, cls, 1))
        rows.append((t, 2, 500 + 10 * t, 300, 50, 100, 1, cls, 1))
    return rows


def as_tracker(gt: list[Row], cls: int | None = None, id_map=None) -> list[Row]:
    """Tracker rows equal to GT rows (score 0.9), optionally forcing a class and remapping ids by (frame, id)."""
    out = []
    for f, i, x, y, w, h, _conf, c, _vis in gt:
        new_id = id_map(f, i) if id_map else i
        out.append((f, new_id, x, y, w, h, 0.9, c if cls is None else cls))
    return out
