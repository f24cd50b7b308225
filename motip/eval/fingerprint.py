"""Has the locked val set changed since it was built? Compare a split's fingerprint with build_report.json.

The fingerprint is the data builder's own definition (``motip.data.mot_format.fingerprint_split``: sha256 over the
split's seqmap, every seqinfo.ini / gt.txt / ignore.txt byte and each image link's name, target name and size), so
it equals the ``<split>_fingerprint`` the builder wrote into ``<build>/build_report.json``.
"""

from __future__ import annotations

from pathlib import Path

from motip.data.mot_format import fingerprint_split
from motip.data.report import REPORT_NAME
from motip.records import BuildReport


def split_fingerprint(gt_folder: str | Path) -> str:
    """sha256 hex of the split folder ``gt_folder`` (``<build>/<split>``), as the builder computes it."""
    gt_folder = Path(gt_folder)
    return fingerprint_split(gt_folder.parent, gt_folder.name)


def recorded_fingerprint(gt_folder: str | Path) -> str | None:
    """The ``<split>_fingerprint`` recorded in the build report beside the split; None when there is none."""
    gt_folder = Path(gt_folder)
    report, _ = BuildReport.try_read(gt_folder.parent / REPORT_NAME)  # the report's one reader
    return None if report is None else report.fingerprint(gt_folder.name)


def check_val_fingerprint(gt_folder: str | Path) -> str | None:
    """Warning text when the split no longer matches its build report's fingerprint; None when it matches or when
    there is no build report to compare with (a dataset not made by ``motip build``)."""
    gt_folder = Path(gt_folder)
    recorded = recorded_fingerprint(gt_folder)
    if recorded is None:
        return None
    current = split_fingerprint(gt_folder)
    if current == recorded:
        return None
    return (f"the {gt_folder.name} set at {gt_folder} changed since it was built (fingerprint {current[:12]} != "
            f"{recorded[:12]} in {gt_folder.parent / REPORT_NAME}): scores are not comparable with earlier runs; "
            "rebuild with the same manifest or restore the locked split")
