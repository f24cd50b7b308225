"""`motip init DIR`: a real-data workspace (config.toml, configs/, pretrains/README.md, README.md), checked first."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Create a workspace in DIR for training on the original releases: config.toml with the roots given here "
        "(a source not given is disabled, with a comment) and TRAIN.md's three stages and budgets, configs/ with the "
        "base config and TRAIN.md's stage configs, pretrains/README.md (what to download by hand and from where) "
        "and a README of next steps. Each root is checked with its source's reader first (videos, frames, ground "
        "truth per split); a wrong layout is refused and nothing is written. An existing workspace is never "
        "overwritten without --force. See docs/data.md.")
    parser.add_argument("dir", help="the workspace folder: new, empty, or one without a workspace in it")
    parser.add_argument("--dancetrack", metavar="PATH", help="DanceTrack root: {train,val,test}/<seq>/img1, gt/gt.txt")
    parser.add_argument("--bdd", metavar="PATH",
                        help="BDD100K root: images/track/{train,val,test}, labels/box_track_20/{train,val}")
    parser.add_argument("--visdrone", metavar="PATH",
                        help="VisDrone root: VisDrone2019-MOT-{train,val,test-dev}/{sequences,annotations}")
    parser.add_argument("--force", action="store_true",
                        help="rewrite the files motip init writes in an existing workspace (changed ones are kept "
                             "under .motip/init-replaced/); outputs/, datasets/, manifest.json are never touched")


def run(args: argparse.Namespace) -> int:
    from motip.workspace_init import create_workspace

    result = create_workspace(args.dir, {"dancetrack": args.dancetrack, "bdd": args.bdd,
                                         "visdrone": args.visdrone}, force=args.force)
    for report in result.reports.values():
        print("\n".join(report.lines()))
    if not result.reports:
        print("no source root given: every source is disabled in config.toml (set their roots there)")
    for warning in result.warnings:
        print(f"warning: {warning}")
    verb = "created" if result.new else "rewrote files of"
    print(f"{verb} the workspace {result.folder}: {', '.join(result.written)}")
    if result.replaced_into is not None:
        print(f"the replaced files that differed are kept in {result.replaced_into}")
    print("next (in that folder; see its README.md):")
    print(f"  cd {result.folder}")
    print("  # download the pretrains by hand: pretrains/README.md")
    print("  motip manifest --val-per-source 3 --test-per-source 2")
    print("  motip build")
    print("  motip doctor configs/stage1_universal_foundation.yaml")
    print("  motip train configs/stage1_universal_foundation.yaml --detach    # or: motip-tui")
    return 0
