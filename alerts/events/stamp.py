"""Record a review of event skeletons: `python -m alerts.events.stamp FILE... --reviewed-by X --approved-by Y`."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from alerts.clock import SHANGHAI
from alerts.events.skeletons import SkeletonError, stamp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts.events.stamp", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--reviewed-by", required=True, help="the expert (team) who reviewed the wording")
    parser.add_argument("--approved-by", required=True, help="who approved it for use")
    args = parser.parse_args(argv)
    now = datetime.now(SHANGHAI).replace(microsecond=0)
    failed = 0
    for path in args.files:
        try:
            digest = stamp(path, reviewed_by=args.reviewed_by, approved_by=args.approved_by, at=now)
        except (OSError, SkeletonError) as exc:
            print(f"{path}: not stamped: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: reviewed ({digest[:12]})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
