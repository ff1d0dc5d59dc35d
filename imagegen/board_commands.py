"""`python -m imagegen board ...`: make a board, put images on it, list boards or a board's images, and
export a board as a zip, through the Studio as the Boards page does."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from imagegen import InvalidRequest

if TYPE_CHECKING:
    from imagegen import Board, Settings, Studio


def add_parser(sub: argparse._SubParsersAction) -> None:
    board = sub.add_parser("board", help="boards: create, add images, list, export as a zip")
    actions = board.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a board (private unless --team)")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.add_argument("--team", action="store_true", help="let the whole team see it")
    add = actions.add_parser("add", help="put gallery images on a board")
    add.add_argument("board", help="the board's id")
    add.add_argument("images", nargs="+", metavar="IMAGE", help="an image's id, key or share link")
    listing = actions.add_parser("list", help="the boards you can see, or one board's images")
    listing.add_argument("board", nargs="?", help="the board's id: list its images")
    export = actions.add_parser("export", help="a board's images and manifest as a zip")
    export.add_argument("board", help="the board's id")
    export.add_argument("--to", required=True, metavar="FILE", help="where to write the zip (not overwritten)")
    for action in (create, add, listing, export):
        action.add_argument("--user", default=None, help="who acts (default: IMAGEGEN_LOCAL_USER)")
        action.add_argument("--json", action="store_true", help="print one JSON object")
    board.set_defaults(handler="board")


def run(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    user = args.user or settings.local_user
    answer = {"create": _create, "add": _add, "list": _list, "export": _export}[args.action](args, studio, user)
    if args.json:
        print(json.dumps({"status": "succeeded", **answer}, default=str))
    else:
        for line in answer.pop("lines", []):
            print(line)
    return 0


def _board(board: Board) -> dict:
    return {**asdict(board), "may": sorted(board.may)}


def _create(args: argparse.Namespace, studio: Studio, user: str) -> dict:
    board = studio.create_board(
        args.name, user, description=args.description, visibility="team" if args.team else "private"
    )
    return {"board": _board(board), "lines": [f"{board.id}  {board.name}"]}


def _add(args: argparse.Namespace, studio: Studio, user: str) -> dict:
    keys = [studio.key_for_link(unquote(image.rsplit("image=", 1)[-1].split("&")[0])) for image in args.images]
    added = studio.add_to_board(args.board, user, keys)
    return {"added": added, "keys": keys, "lines": [f"added {added} of {len(keys)} image(s) to {args.board}"]}


def _list(args: argparse.Namespace, studio: Studio, user: str) -> dict:
    if not args.board:
        boards = studio.boards(user)
        lines = [f"{b.id}  {b.visibility:7}  {b.images:4} images  {b.name}" for b in boards]
        return {"boards": [_board(b) for b in boards], "lines": lines}
    items = studio.board_items(args.board, user)
    shown = [
        {"key": i["image_key"], "id": i["record"]["id"], "prompt": i["record"]["prompt"], "added_by": i["added_by"],
         "added_at": i["added_at"], "review": i["review"] or "not submitted"}
        for i in items
    ]  # fmt: skip
    lines = [f"{i['id'][:8]}  {i['review']:17}  {i['prompt'][:60]}" for i in shown]
    return {"board": _board(studio.board(args.board, user)), "images": shown, "lines": lines}


def _export(args: argparse.Namespace, studio: Studio, user: str) -> dict:
    name, data = studio.board_zip(args.board, user)
    target = Path(args.to)
    if target.is_dir():
        target = target / name
    try:
        with open(target, "xb") as out:  # never over a file that is there: a typo must not cost a file
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except FileExistsError:
        raise InvalidRequest(f"{str(target)!r} exists already: choose another file.") from None
    except OSError as exc:
        raise InvalidRequest(f"Cannot write {str(target)!r}: {exc.strerror}.") from None
    return {"file": str(target), "bytes": len(data), "lines": [f"wrote {target} ({len(data):,} bytes)"]}
