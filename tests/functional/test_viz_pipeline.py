"""The pipelined viz export (reader thread, drawing, encoder thread): the same pixels as a plain sequential loop, and a
failure in any thread stops the export at once with the original error, leaving a previous video in place."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from motip.viz.matching import FrameResult, match_sequence
from motip.viz.render import (
    READ_AHEAD,
    DrawnSequence,
    FrameDrawer,
    draw_frames,
    output_size,
    read_frame,
    render_sequence,
)
from motip.viz.video import H264_CRF, H264_PRESET, H264Writer, VideoSink
from motip.data import mot_files

from tests.helpers.paths import REPO



def make_frames(folder: Path, count: int, width: int, height: int, seed: int = 0) -> list[Path]:
    """Textured JPEG frames (smooth colour field + shapes), each different, as a camera sequence would be."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    base = cv2.resize(rng.integers(0, 255, (height // 16, width // 16, 3), dtype=np.uint8), (width, height),
                      interpolation=cv2.INTER_CUBIC)
    paths = []
    for t in range(1, count + 1):
        frame = np.roll(base, 7 * t, axis=1)
        x = int(rng.integers(0, width - 40))
        cv2.rectangle(frame, (x, 20), (x + 30, 60), tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
        path = folder / f"{t:08d}.jpg"
        cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def make_results(count: int, width: int, height: int) -> list[FrameResult]:
    """Three moving GT boxes; the tracker follows two (one switches id half-way), misses the third now and then
    and adds a false positive every fourth frame."""
    gt, pred = [], []
    for t in range(1, count + 1):
        boxes = [(0.1 * width + 3 * t, 0.2 * height, 0.15 * width, 0.4 * height),
                 (0.5 * width - 2 * t, 0.3 * height, 0.12 * width, 0.35 * height),
                 (0.7 * width, 0.1 * height + t, 0.1 * width, 0.3 * height)]
        for k, (x, y, w, h) in enumerate(boxes, start=1):
            gt.append(f"{t},{k},{x:.1f},{y:.1f},{w:.1f},{h:.1f},1,1,1\n")
        pred.append("{},{},{:.1f},{:.1f},{:.1f},{:.1f},0.9,1,-1,-1\n".format(t, 1, *boxes[0]))
        pred.append("{},{},{:.1f},{:.1f},{:.1f},{:.1f},0.9,1,-1,-1\n".format(t, 2 if t < count // 2 else 5, *boxes[1]))
        if t % 3:
            pred.append("{},{},{:.1f},{:.1f},{:.1f},{:.1f},0.9,1,-1,-1\n".format(t, 3, *boxes[2]))
        if t % 4 == 0:
            pred.append(f"{t},{100 + t},{0.4 * width:.1f},{0.7 * height:.1f},40,30,0.5,1,-1,-1\n")
    return _match("".join(gt), "".join(pred), count)


def _match(gt_text: str, pred_text: str, count: int) -> list[FrameResult]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        seq = Path(tmp)
        (seq / "gt").mkdir()
        (seq / "gt" / "gt.txt").write_text(gt_text)
        (seq / "pred.txt").write_text(pred_text)
        frames, _ = match_sequence(mot_files.read_gt(seq), mot_files.read_ignore(seq),
                                   mot_files.read_tracker_file(seq / "pred.txt"), count)
    return frames


def sequential_drawn(paths: list[Path], results: list[FrameResult], scale: float = 1.0) -> list[np.ndarray]:
    """The reference: read every frame into a new array, one after the other, and draw it, in one thread."""
    first = read_frame(paths[0])
    drawer = FrameDrawer(first.shape[1], first.shape[0], len(results))
    collected = DrawnSequence([], [], drawer)
    images = [read_frame(p) for p in paths]
    return [drawn.copy() for drawn, _ in draw_frames(images, results, drawer, set(), scale, collected)]


def decode_video(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def encode_sequentially(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """The same encoder, fed in the calling thread, no queue."""
    with open(path, "wb") as handle:
        writer = H264Writer(handle, frames[0].shape[1], frames[0].shape[0], fps)
        for frame in frames:
            writer.write(frame)
        writer.release()


def encode_with_swscale(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """The same libx264 settings, fed BGR frames that PyAV converts itself (FFmpeg's swscale)."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"preset": H264_PRESET, "crf": str(H264_CRF)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize(("width", "height", "scale"), [(1280, 720, 1.0), (320, 192, 1.0), (1280, 720, 0.5)])
def test_pipelined_export_gives_the_sequential_frames(tmp_path: Path, width: int, height: int,
                                                      scale: float) -> None:
    """720p draws in place into recycled buffers (more frames than the pool holds); 320x192 gets a HUD margin (new
    arrays); scale 0.5 shrinks after drawing. The video holds exactly what a sequential loop + the same encoder give,
    and decodes to the drawn frames within the encoder's loss."""
    count = 2 * (2 * READ_AHEAD + 3) + 2
    paths = make_frames(tmp_path / "img1", count, width, height)
    results = make_results(count, width, height)
    video = tmp_path / "out" / "seq.mp4"
    rendered = render_sequence("seq", paths, results, video, tmp_path / "out" / "seq_worst.png", 10.0, scale=scale)
    assert rendered.codec == "h264"

    reference = sequential_drawn(paths, results, scale)
    encode_sequentially(reference, tmp_path / "sequential.mp4", 10.0)
    pipelined, sequential = decode_video(video), decode_video(tmp_path / "sequential.mp4")
    assert len(pipelined) == len(sequential) == count
    for k, (a, b) in enumerate(zip(pipelined, sequential)):
        assert np.array_equal(a, b), f"frame {k + 1} differs from the sequential export"
    # Quality: no worse than PyAV's own BGR -> yuv420p conversion (swscale) into the same libx264 settings.
    encode_with_swscale(reference, tmp_path / "swscale.mp4", 10.0)
    for k, (decoded, by_swscale, drawn) in enumerate(zip(pipelined, decode_video(tmp_path / "swscale.mp4"),
                                                         reference)):
        assert decoded.shape == drawn.shape
        error = np.abs(decoded.astype(np.int16) - drawn).mean()
        error_swscale = np.abs(by_swscale.astype(np.int16) - drawn).mean()
        assert error < 10.0 and error <= error_swscale + 0.25, \
            f"frame {k + 1}: mean error {error:.2f} levels after encoding (swscale's: {error_swscale:.2f})"


def test_reader_failure_stops_the_export_and_keeps_the_previous_video(tmp_path: Path) -> None:
    count, bad = 30, 6
    paths = make_frames(tmp_path / "img1", count, 640, 360)
    results = make_results(count, 640, 360)
    out = tmp_path / "out"
    video = out / "seq.mp4"
    render_sequence("seq", paths, results, video, out / "seq_worst.png", 10.0)
    good = video.read_bytes()

    paths[bad - 1].write_bytes(b"not a jpeg at all")
    drawn = []
    outcome: dict[str, BaseException] = {}

    def export() -> None:
        try:
            render_sequence("seq", paths, results, video, out / "seq_worst.png", 10.0,
                            on_frame=lambda: drawn.append(1))
        except BaseException as err:  # noqa: BLE001 - examined below
            outcome["error"] = err

    worker = threading.Thread(target=export)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the export hung after the reader failed"
    error = outcome.get("error")
    assert error is not None and "cannot read this image" in str(error)
    assert str(getattr(error, "path", "")) == str(paths[bad - 1])
    assert len(drawn) < bad, "frames after the failed one were still drawn"
    assert video.read_bytes() == good, "the previous video was replaced"
    assert sorted(p.name for p in out.iterdir()) == ["seq.mp4", "seq_worst.png"], "a temp file was left behind"
    assert not [t for t in threading.enumerate() if t.name in ("viz-reader", "viz-encoder")]


def test_failure_in_the_drawing_thread_stops_reader_and_encoder(tmp_path: Path) -> None:
    """The caller fails part-way (720p: frames drawn in place in pooled buffers, the reader ahead, the encoder
    busy): every thread ends with the export, the original error comes out, no video is left."""
    count = 3 * (2 * READ_AHEAD + 3)
    paths = make_frames(tmp_path / "img1", count, 1280, 720)
    results = make_results(count, 1280, 720)
    drawn = []

    def on_frame() -> None:
        drawn.append(1)
        if len(drawn) == 2:
            raise RuntimeError("stopped by the caller at frame 2")

    with pytest.raises(RuntimeError, match="stopped by the caller at frame 2"):
        render_sequence("seq", paths, results, tmp_path / "out" / "seq.mp4", tmp_path / "out" / "seq_worst.png",
                        10.0, on_frame=on_frame)
    assert not [t for t in threading.enumerate() if t.name in ("viz-reader", "viz-encoder")]
    assert list((tmp_path / "out").iterdir()) == []


def test_encoder_failure_reaches_the_caller_and_keeps_the_previous_video(tmp_path: Path) -> None:
    video = tmp_path / "seq.mp4"
    frame = np.full((48, 64, 3), 90, np.uint8)
    with VideoSink(video, 64, 48, 10.0) as sink:
        for _ in range(3):
            sink.write(frame.copy())
    good = video.read_bytes()
    assert len(decode_video(video)) == 3

    with (pytest.raises(cv2.error, match="(?i)depth|format|scn|unsupported|invalid"),
          VideoSink(video, 64, 48, 10.0, depth=2) as sink):
        sink.write(frame.copy())
        sink.write(frame.astype(np.float64))  # the encoder thread's colour conversion takes 8-bit frames only
        for _ in range(100):  # the error surfaces at a write (or at close), never a hang on the full queue
            sink.write(frame.copy())
    assert video.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["seq.mp4"]
    assert not [t for t in threading.enumerate() if t.name == "viz-encoder"]


def test_discarded_video_leaves_nothing(tmp_path: Path) -> None:
    video = tmp_path / "seq.mp4"
    sink = VideoSink(video, 64, 48, 10.0)
    sink.write(np.zeros((48, 64, 3), np.uint8))
    sink.close(keep=False)
    assert list(tmp_path.iterdir()) == []


def test_decoding_into_a_reused_buffer_fails_like_a_plain_decode(tmp_path: Path) -> None:
    """A reused buffer never hides a failed decode: cv2.imread then returns the buffer untouched."""
    good = make_frames(tmp_path / "img", 2, 320, 192)
    other_size = make_frames(tmp_path / "other", 1, 160, 96)[0]
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    missing = tmp_path / "missing.jpg"
    buffer = read_frame(good[0]).copy()  # holds a good frame already: a failed decode would pass for it
    for path in (missing, garbage):
        with pytest.raises(Exception) as plain:
            read_frame(path)
        with pytest.raises(type(plain.value), match="cannot read this image"):
            read_frame(path, buffer)
    image = read_frame(good[1], buffer)
    assert image is buffer and np.array_equal(image, read_frame(good[1]))
    small = read_frame(other_size, buffer)  # another size: a new array, the same pixels
    assert small is not buffer and np.array_equal(small, read_frame(other_size))


def test_output_size_is_even_when_scaled() -> None:
    drawer = FrameDrawer(1920, 1080, 10)
    assert output_size(drawer, 1.0) == (1920, 1080)
    assert all(v % 2 == 0 for v in output_size(drawer, 0.33))


def test_bench_viz_prints_fps_as_json() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "viz.py"), "--frames", "6", "--width", "320",
                           "--height", "192", "--objects", "3", "--no-stages", "--json"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"fps", "cpu_ms_per_frame", "load_avg_before", "load_avg_after"} <= figures.keys()
    assert figures["fps"] > 0
