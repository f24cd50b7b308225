"""Parsing the JSON files we read (the typed records of ``motip.records``, manifests, launch records, summaries).

One parser, so every caller gets the same answer for a damaged file: a ``MotipError`` naming the file, the line
when the parser knows it, and what to do; never a ``KeyError``/``RecursionError``/``UnicodeDecodeError`` somewhere
else. The files we write with a fixed schema (job.json, run.json, queue.json, metrics.json, build_report.json) are
then checked field by field by their record's reader (``motip.records``). Writing stays in ``motip.atomic``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from motip.errors import MotipError

MAX_BYTES = 64 * 2 ** 20  # our files are small; a bigger one is not ours (or is corrupt), never read whole


def read_json(path: str | os.PathLike[str], *, what: str = "JSON file", hint: str | None = None,
              expect: type | None = dict) -> Any:
    """Parse ``path``; raise MotipError (exit 2) when it is missing, unreadable, not UTF-8, not JSON, absurdly
    large or deep, or not of type ``expect`` (None: any type)."""
    path = Path(path)
    fix = hint or "fix or delete the file"
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise MotipError(f"{what} is {size / 2 ** 20:.0f} MB, too large to be ours", path=path, hint=fix)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MotipError(f"{what} not found", path=path, hint=fix) from None
    except OSError as err:
        raise MotipError(f"cannot read {what}: {err.strerror or err}", path=path, hint=fix) from None
    try:
        text = raw.decode("utf-8-sig")  # a BOM some editors add is not an error
    except UnicodeDecodeError as err:
        raise MotipError(f"{what} is not UTF-8 text (byte {err.start})", path=path, hint=fix) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise MotipError(f"{what} is not valid JSON: {err.msg} (column {err.colno})", path=path, line=err.lineno,
                         hint=fix) from None
    except RecursionError:
        raise MotipError(f"{what} is nested too deeply to be ours", path=path, hint=fix) from None
    if expect is not None and not isinstance(data, expect):
        raise MotipError(f"{what} holds a JSON {type(data).__name__}, expected a JSON "
                         f"{'object' if expect is dict else expect.__name__}", path=path, hint=fix)
    return data


def try_read_json(path: str | os.PathLike[str], **kwargs: Any) -> tuple[Any, MotipError | None]:
    """``(data, None)``, or ``(None, error)`` for a file that cannot be used: for listings that show a damaged entry
    as unreadable instead of failing as a whole."""
    try:
        return read_json(path, **kwargs), None
    except MotipError as err:
        return None, err
