"""The command line for admins and scripts: python -m imagegen COMMAND. This module reads the command;
commands.py runs it, through the Studio like a page. Nothing here imports the studio, so `--help` and a
wrong command answer at once."""

from __future__ import annotations

import argparse
import sys

#: commands that need no Studio (and so no database, storage or provider)
WITHOUT_STUDIO = ("models", "presets", "doctor", "migrate", "copy-db")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import json
    import logging

    from imagegen import ImagegenError, Settings, commands, hide_secrets

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    handler = getattr(commands, args.handler)
    try:
        settings = Settings.from_env()
        if args.command in WITHOUT_STUDIO:
            return handler(args, settings, None)
        from imagegen import Studio

        return handler(args, settings, Studio(settings))
    except ImagegenError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"status": "failed", "error": exc.code, "message": exc.message, "charged": exc.charged}))
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # the last word for scripts: say what broke, exit 1
        logging.getLogger("imagegen").exception("command failed")
        print(f"error: {hide_secrets(str(exc)) or type(exc).__name__}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m imagegen", description="imagegen: the team's image studio.")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate an image from a prompt")
    gen.add_argument("prompt")
    _request_options(gen, preset="")
    gen.add_argument(
        "--rewrite",
        action="store_true",
        help="write the prompt up first (the writing Director), then send it as written",
    )
    gen.set_defaults(handler="generate")

    edit = sub.add_parser("edit", help="edit images: a starting image (and references) with a prompt")
    edit.add_argument("images", nargs="*", metavar="IMAGE", help="the starting image, then reference images")
    edit.add_argument("--prompt", required=True, help="what to change")
    overlay = edit.add_mutually_exclusive_group()
    overlay.add_argument("--mask", default=None, help="a PNG whose transparent pixels mark where to edit")
    overlay.add_argument("--markup", default=None, help="a transparent PNG drawn over the image to guide the edit")
    edit.add_argument("--from-key", default="", help="start from this gallery image (IMAGEs become references)")
    edit.add_argument("--input-fidelity", default="", choices=("", "low", "high"))
    _request_options(edit, preset="careful")
    edit.set_defaults(handler="edit")

    rewrite = sub.add_parser("rewrite", help="write a prompt up under a preset's instructions (the writing Director)")
    rewrite.add_argument("text")
    rewrite.add_argument("--preset", default="photo")
    rewrite.add_argument("--user", default=None, help="who asks (default: IMAGEGEN_LOCAL_USER)")
    rewrite.add_argument("--json", action="store_true", help="print one JSON object")
    rewrite.set_defaults(handler="rewrite")

    describe = sub.add_parser("describe", help="write the prompt that would make an image (the writing Director)")
    describe.add_argument("image", help="a PNG, JPEG, WebP, GIF or SVG file")
    describe.add_argument("--user", default=None, help="who asks (default: IMAGEGEN_LOCAL_USER)")
    describe.add_argument("--json", action="store_true", help="print one JSON object")
    describe.set_defaults(handler="describe")

    from imagegen import board_commands, run_commands

    board_commands.add_parser(sub)
    run_commands.add_parser(sub)

    sub.add_parser("models", help="list the models and their limits").set_defaults(handler="models")
    sub.add_parser("presets", help="list the Director's presets").set_defaults(handler="presets")

    quota = sub.add_parser("quota", help="show or set a user's daily image quota")
    quota.add_argument("user", nargs="?")
    quota.add_argument("--set", dest="value", type=int)
    quota.set_defaults(handler="quota")

    budget = sub.add_parser("budget", help="show or set the team's daily budget in USD")
    budget.add_argument("--set", dest="value")
    budget.set_defaults(handler="budget")

    usage = sub.add_parser("usage", help="spend and images per day and user")
    usage.add_argument("--days", type=int, default=7)
    usage.add_argument("--csv", action="store_true")
    usage.set_defaults(handler="usage")

    reconcile = sub.add_parser("reconcile", help="upload spooled images, expire stale reservations")
    reconcile.add_argument("--check", action="store_true", help="also check the ledger's invariants")
    reconcile.set_defaults(handler="reconcile")

    sub.add_parser("reindex", help="rebuild the gallery index from storage").set_defaults(handler="reindex")
    sub.add_parser("migrate", help="bring the database's schema up to date").set_defaults(handler="migrate")
    copy = sub.add_parser("copy-db", help="copy every row to another, empty database and check both agree")
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host/db or sqlite:///path")
    copy.set_defaults(handler="copy_db")
    sub.add_parser("doctor", help="check the provider, storage, database, spool and sign-in").set_defaults(
        handler="doctor"
    )
    return parser


def _request_options(command: argparse.ArgumentParser, *, preset: str) -> None:
    command.add_argument("--user", default=None, help="who is generating (default: IMAGEGEN_LOCAL_USER)")
    command.add_argument(
        "--preset", default=preset, help="the Director's style (default: the first for the format's kind)"
    )
    command.add_argument("--size", default="")
    command.add_argument("--quality", default="")
    command.add_argument("--model", default="")
    command.add_argument("--n", type=int, default=1)
    command.add_argument(
        "--format",
        dest="output_format",
        default="png",
        choices=("png", "jpeg", "webp", "svg", "gif"),
        help="svg: a vector logo or icon; gif: an animation",
    )
    command.add_argument("--frames", type=int, default=None, help="an animation's frames, 2 to 16 (default 9)")
    command.add_argument("--frame-ms", type=int, default=None, help="each frame's length in ms (default 200)")
    command.add_argument("--svg-author", default="", help="the model that writes an SVG (default: the account's)")
    command.add_argument("--svg-effort", default="", help="its reasoning effort: none, minimal, low ... max")
    command.add_argument("--background", default="", choices=("", "auto", "opaque", "transparent"))
    command.add_argument("--compression", type=int, default=None)
    command.add_argument("--lighting", default="")
    command.add_argument("--camera", default="")
    command.add_argument("--raw", action="store_true", help="send the prompt exactly as typed")
    command.add_argument("--request-id", default=None, help="idempotency key: the same id never charges twice")
    command.add_argument("--json", action="store_true", help="print one JSON object")
