"""Command line for the template library: `python -m alerts.content lint|status|stamp DIR`."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from alerts.content.library import Library, LibraryError, stamp
from alerts.content.lint import lint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts.content")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("lint", "check the library; exit 1 on any problem"),
                            ("status", "list templates with their review status")):
        sub.add_parser(name, help=help_text).add_argument("directory", type=Path, nargs="?", default=Path("templates"))
    stamp_cmd = sub.add_parser("stamp", help="record a review for templates not yet reviewed")
    stamp_cmd.add_argument("directory", type=Path)
    stamp_cmd.add_argument("ids", nargs="*", help="template ids to stamp")
    stamp_cmd.add_argument("--all", action="store_true", help="stamp every unreviewed or changed template")
    stamp_cmd.add_argument("--reviewed-by", required=True)
    stamp_cmd.add_argument("--approved-by", required=True)
    stamp_cmd.add_argument("--at", type=datetime.fromisoformat, help="ISO 8601 time with offset (default: now)")
    args = parser.parse_args(argv)

    try:
        # lint reports load problems itself; the other commands need a clean library.
        library = Library.load(args.directory, strict=args.command != "lint")
    except LibraryError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.command == "lint":
        problems = lint(library)
        for problem in problems:
            print(problem)
        print(f"{len(library.templates)} templates, {len(problems)} problems", file=sys.stderr)
        return 1 if problems else 0
    if args.command == "status":
        for template in library.templates:
            print(f"{template.status:10} {template.id}")
        return 0
    if not args.ids and not args.all:
        parser.error("name template ids to stamp, or pass --all")
    try:
        stamped = stamp(library, args.ids, by=args.reviewed_by, approved_by=args.approved_by,
                        at=args.at or datetime.now().astimezone(), every=args.all)
    except (KeyError, ValueError, LibraryError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for template in stamped:
        print(f"stamped {template.id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
