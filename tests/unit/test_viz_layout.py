"""The viz HUD never hides the scene (issue 16 item 2): a strip at the bottom edge covering at most ~8% of a large
frame, moved into a margin below small frames; per-frame and cumulative counts labelled as such, with the same words
in the contact sheet's captions. Measured on drawn pixels, with the real FrameDrawer and render_sequence."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from motip.viz.matching import Category, DrawnBox, FrameResult
from motip.viz.render import HUD_MAX_FRACTION, FrameDrawer, count_texts, render_sequence

from tests.helpers.viz_case import FRAMES, FP_FRAME, MISS_FRAME, SWITCH_FRAME, make_case

GREY = 128


def _result(frame: int, fn: int = 0, fp: int = 0, idsw: int = 0, boxes: list[DrawnBox] | None = None) -> FrameResult:
    return FrameResult(frame=frame, boxes=boxes or [], ignore_regions=np.zeros((0, 4)), fn=fn, fp=fp, idsw=idsw)


def _hud_pixels(width: int, height: int, result: FrameResult) -> tuple[np.ndarray, np.ndarray, FrameDrawer]:
    """(the drawn frame, a mask of the pixels the HUD changed inside the original frame, the drawer)."""
    drawer = FrameDrawer(width, height, 500)
    image = np.full((height, width, 3), GREY, np.uint8)
    drawn = drawer.draw(image, result)
    changed = (drawn[:height] != GREY).any(axis=2)
    return drawn, changed, drawer


@pytest.mark.parametrize("idsw", [0, 1])
def test_hud_is_a_bottom_strip_of_at_most_8_percent_on_1080p(idsw: int) -> None:
    drawn, changed, drawer = _hud_pixels(1920, 1080, _result(7, fn=2, fp=1, idsw=idsw))
    assert drawn.shape == (1080, 1920, 3) and drawer.hud.margin == 0  # inside the frame, same size
    rows = np.flatnonzero(changed.any(axis=1))
    assert len(rows) and rows.max() == 1079  # touches the bottom edge
    strip_height = 1080 - rows.min()
    assert strip_height <= HUD_MAX_FRACTION * 1080, strip_height      # a strip, not a box over the scene
    assert changed.mean() <= HUD_MAX_FRACTION
    assert changed[rows.min():].mean() > 0.9  # the strip spans the width (a translucent band, not scattered ink)
    # It scales with the frame: the strip on 3840x2160 is twice as tall, same share of the frame.
    _, changed_4k, _ = _hud_pixels(3840, 2160, _result(7))
    rows_4k = np.flatnonzero(changed_4k.any(axis=1))
    assert abs((2160 - rows_4k.min()) / strip_height - 2.0) < 0.15


def test_hud_goes_into_a_margin_on_small_frames() -> None:
    drawn, changed, drawer = _hud_pixels(320, 192, _result(3, fn=1, fp=2, idsw=1))
    assert drawer.hud.margin > 0 and drawn.shape == (192 + drawer.hud.margin, 320, 3)
    assert drawer.output_size == (320, 192 + drawer.hud.margin)
    assert not changed.any()  # not one pixel of the scene covered
    margin = drawn[192:]
    assert (margin != GREY).any(axis=2).mean() > 0.9 and margin.std() > 10  # the HUD, with text, is there
    assert drawn.shape[0] % 2 == 0  # H.264 needs even sizes


def test_boxes_are_drawn_and_the_hud_covers_nothing_else() -> None:
    box = DrawnBox((100, 100, 200, 300), Category.FP, "9")
    drawn, changed, _ = _hud_pixels(1920, 1080, _result(1, fp=1, boxes=[box]))
    assert tuple(int(v) for v in drawn[250, 100]) == (0, 0, 255)  # the red box's left edge, untouched by the HUD
    assert not changed[:60, :400].any()  # the top left is the scene's: the old legend box lived there


def test_counts_labelled_per_frame_and_cumulative() -> None:
    drawer = FrameDrawer(640, 360, 20)
    image = np.full((360, 640, 3), GREY, np.uint8)
    drawer.draw(image.copy(), _result(1, fn=1, fp=2))
    drawer.draw(image.copy(), _result(2, fn=3, idsw=1))
    assert drawer.texts(_result(2, fn=3, idsw=1)) == [
        "frame 2/20", "this frame: FN 3  FP 0  IDSW 1", "cumulative: FN 4  FP 2  IDSW 1"]
    assert count_texts(2, 20, (3, 0, 1), (4, 2, 1)) == drawer.texts(_result(2, fn=3, idsw=1))


def test_contact_sheet_captions_use_the_hud_words(tmp_path: Path) -> None:
    from motip.data import mot_files
    from motip.viz.matching import match_sequence

    split, results = make_case(tmp_path)
    seq = mot_files.read_sequence(split / "seq01")
    frames, counts = match_sequence(mot_files.read_gt(seq.path), mot_files.read_ignore(seq.path),
                                    mot_files.read_tracker_file(results / "seq01.txt"), seq.length)
    paths = [seq.frame_path(t) for t in range(1, FRAMES + 1)]
    rendered = render_sequence("seq01", paths, frames, tmp_path / "v.mp4", tmp_path / "sheet.png", 10)
    by_frame = {int(c[0].split()[1].split("/")[0]): c for c in rendered.captions}
    assert set(by_frame) == {FP_FRAME, SWITCH_FRAME, MISS_FRAME}
    # make_case: one FP on frame 5, one ID switch on frame 10, one miss on frame 15
    assert by_frame[FP_FRAME] == [f"frame {FP_FRAME}/{FRAMES}", "this frame: FN 0  FP 1  IDSW 0",
                                  "cumulative: FN 0  FP 1  IDSW 0"]
    assert by_frame[SWITCH_FRAME][1:] == ["this frame: FN 0  FP 0  IDSW 1", "cumulative: FN 0  FP 1  IDSW 1"]
    assert by_frame[MISS_FRAME][1:] == ["this frame: FN 1  FP 0  IDSW 0", "cumulative: FN 1  FP 1  IDSW 1"]
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet is not None and sheet.shape[1] == 3 * 640
    # The tiles show the whole scene, the HUD is not in them: a tile's bottom rows are the plain grey frame
    # (title bar 50 px + legend row 34 px above the tiles; make_case's boxes end above row 340).
    bottom_rows = sheet[84 + 340: 84 + 358, :640].astype(int)
    assert np.abs(bottom_rows - 128).max() <= 3
