"""The command line for admins and scripts: python -m imagegen COMMAND."""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import logging
import os
import stat
import sys
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation

from imagegen.errors import ImagegenError, InvalidRequest
from imagegen.ledger import to_usd
from imagegen.masks import MAX_MASK_BYTES
from imagegen.money import usd
from imagegen.redact import csv_cell, redact
from imagegen.request import GenerationRequest, GenerationResult
from imagegen.settings import Settings
from imagegen.studio import Studio
from imagegen.uploads import MAX_UPLOAD_BYTES, Upload


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        if args.command in ("models", "presets", "doctor", "migrate", "copy-db"):
            return args.handler(args, settings, None)
        return args.handler(args, settings, Studio(settings))
    except ImagegenError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"status": "failed", "error": exc.code, "message": exc.message, "charged": exc.charged}))
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # the last word for scripts: say what broke, exit 1
        logging.getLogger("imagegen").exception("command failed")
        print(f"error: {redact(str(exc)) or type(exc).__name__}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m imagegen", description="imagegen: the team's image studio.")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate an image from a prompt")
    gen.add_argument("prompt")
    _request_options(gen, preset="photo")
    gen.set_defaults(handler=_generate)

    edit = sub.add_parser("edit", help="edit images: a starting image (and references) with a prompt")
    edit.add_argument("images", nargs="*", metavar="IMAGE", help="the starting image, then reference images")
    edit.add_argument("--prompt", required=True, help="what to change")
    overlay = edit.add_mutually_exclusive_group()
    overlay.add_argument("--mask", default=None, help="a PNG whose transparent pixels mark where to edit")
    overlay.add_argument("--markup", default=None, help="a transparent PNG drawn over the image to guide the edit")
    edit.add_argument("--from-key", default="", help="start from this gallery image (IMAGEs become references)")
    edit.add_argument("--input-fidelity", default="", choices=("", "low", "high"))
    _request_options(edit, preset="careful")
    edit.set_defaults(handler=_edit)

    sub.add_parser("models", help="list the models and their limits").set_defaults(handler=_models)
    sub.add_parser("presets", help="list the Director's presets").set_defaults(handler=_presets)

    quota = sub.add_parser("quota", help="show or set a user's daily image quota")
    quota.add_argument("user", nargs="?")
    quota.add_argument("--set", dest="value", type=int)
    quota.set_defaults(handler=_quota)

    budget = sub.add_parser("budget", help="show or set the team's daily budget in USD")
    budget.add_argument("--set", dest="value")
    budget.set_defaults(handler=_budget)

    usage = sub.add_parser("usage", help="spend and images per day and user")
    usage.add_argument("--days", type=int, default=7)
    usage.add_argument("--csv", action="store_true")
    usage.set_defaults(handler=_usage)

    reconcile = sub.add_parser("reconcile", help="upload spooled images, expire stale reservations")
    reconcile.add_argument("--check", action="store_true", help="also check the ledger's invariants")
    reconcile.set_defaults(handler=_reconcile)

    sub.add_parser("reindex", help="rebuild the gallery index from storage").set_defaults(handler=_reindex)
    sub.add_parser("migrate", help="bring the database's schema up to date").set_defaults(handler=_migrate)
    copy = sub.add_parser("copy-db", help="copy every row to another, empty database and check both agree")
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host/db or sqlite:///path")
    copy.set_defaults(handler=_copy_db)
    sub.add_parser("doctor", help="check the provider, storage, database, spool and sign-in").set_defaults(
        handler=_doctor
    )
    return parser


def _request_options(command: argparse.ArgumentParser, *, preset: str) -> None:
    command.add_argument("--user", default=None, help="who is generating (default: IMAGEGEN_LOCAL_USER)")
    command.add_argument("--preset", default=preset)
    command.add_argument("--size", default="")
    command.add_argument("--quality", default="")
    command.add_argument("--model", default="")
    command.add_argument("--n", type=int, default=1)
    command.add_argument("--format", dest="output_format", default="png", choices=("png", "jpeg", "webp"))
    command.add_argument("--background", default="", choices=("", "auto", "opaque", "transparent"))
    command.add_argument("--compression", type=int, default=None)
    command.add_argument("--lighting", default="")
    command.add_argument("--camera", default="")
    command.add_argument("--raw", action="store_true", help="send the prompt exactly as typed")
    command.add_argument("--request-id", default=None, help="idempotency key: the same id never charges twice")
    command.add_argument("--json", action="store_true", help="print one JSON object")


def _generate(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    result = studio.generate(_request(args), args.user or settings.local_user)
    return _report(args, result)


def _edit(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    images: list[bytes | Upload] = [studio.starting_image(args.from_key)] if args.from_key else []
    images += [_read(path, "image") for path in args.images]
    edit = studio.prepare_edit(
        images,
        mask=_read(args.mask, "mask") if args.mask else None,
        markup=_read(args.markup, "markup") if args.markup else None,
        parent_key=args.from_key,
    )
    request = replace(_request(args), input_fidelity=args.input_fidelity)
    return _report(args, studio.generate(request, args.user or settings.local_user, edit=edit))


def _read(path: str, what: str) -> bytes:
    """A file's bytes, refused from its size before reading when it is not a regular file or is over the
    limit for what it is (a device or a pipe would be read until memory runs out)."""
    limit = MAX_MASK_BYTES if what in ("mask", "markup") else MAX_UPLOAD_BYTES
    try:
        with open(path, "rb") as source:
            facts = os.fstat(source.fileno())
            if not stat.S_ISREG(facts.st_mode):
                raise InvalidRequest(f"The {what} {path!r} is not a regular file: give the path of an image file.")
            if facts.st_size >= limit:
                raise InvalidRequest(
                    f"The {what} {path!r} is {facts.st_size / 1024 / 1024:.1f} MB: it must be under "
                    f"{limit // 1024 // 1024} MB."
                )
            data = source.read(limit)
    except OSError as exc:
        raise InvalidRequest(f"Cannot read the {what} {path!r}: {exc.strerror or exc}.") from None
    if len(data) >= limit:  # it grew while being read
        raise InvalidRequest(f"The {what} {path!r} is over {limit // 1024 // 1024} MB: it must be under that.")
    return data


def _request(args: argparse.Namespace) -> GenerationRequest:
    fields = {
        "prompt": args.prompt,
        "preset": args.preset,
        "size": args.size,
        "quality": args.quality,
        "model": args.model,
        "n": args.n,
        "output_format": args.output_format,
        "background": args.background,
        "compression": args.compression,
        "raw": args.raw,
        "lighting": args.lighting,
        "camera": args.camera,
    }
    if args.request_id:
        fields["request_id"] = args.request_id
    return GenerationRequest(**fields)


def _report(args: argparse.Namespace, result: GenerationResult) -> int:
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        for warning in result.warnings:
            print(f"note: {warning}", file=sys.stderr)
        print(f"{result.image_key}  {usd(result.cost_usd)}  {result.model} {result.size} {result.quality}")
        print(f"prompt sent: {result.directed_prompt}")
        if result.pending_upload:
            print("note: storage is unreachable; the image is kept locally and uploads on the next reconcile.")
    return 0


def _models(args: argparse.Namespace, settings: Settings, _studio: Studio | None) -> int:
    from imagegen.catalog import Catalog

    today = date.today()
    for spec in Catalog.load().models():
        status = spec.lifecycle_on(today)
        when = f" (shutdown {spec.shutdown})" if spec.shutdown and status != "active" else ""
        print(f"{spec.id:24} {status}{when}")
        print(f"    sizes: {spec.describe_sizes()}; qualities: {', '.join(spec.qualities)}; n <= {spec.n_max}")
    return 0


def _presets(args: argparse.Namespace, settings: Settings, _studio: Studio | None) -> int:
    from imagegen.director import load_presets

    for name, preset in load_presets().presets.items():
        print(f"{name:14} {preset.label}: {preset.description}")
    return 0


def _quota(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    if args.value is not None:
        if not args.user:
            raise InvalidRequest("Name the user: python -m imagegen quota USER --set N")
        studio.ledger.set_quota(args.user, args.value, by=_operator())
    users = (
        [args.user]
        if args.user
        else sorted({o["user"] for o in studio.ledger.quota_overrides()} | {settings.local_user})
    )
    for user in users:
        allowance = studio.ledger.allowance(user)
        print(
            f"{user}: {allowance.images_used} used, {allowance.images_in_flight} in flight, quota {allowance.quota} today"
        )
    return 0


def _budget(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    if args.value is not None:
        try:
            amount = Decimal(args.value)
        except InvalidOperation:
            raise InvalidRequest(f"{args.value!r} is not an amount in US dollars.") from None
        studio.ledger.set_budget(amount, by=_operator())
    allowance = studio.ledger.allowance(settings.local_user)
    print(
        f"team budget {usd(allowance.budget_usd)} today: {usd(to_usd(allowance.spent_micros))} spent, "
        f"{usd(to_usd(allowance.in_flight_micros))} in flight, {usd(allowance.budget_left_usd)} left"
    )
    return 0


def _usage(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    if not 1 <= args.days <= 3660:
        raise InvalidRequest("--days is 1 to 3660.")
    from imagegen.analytics import Analytics  # pandas is slow to import: only for this command

    frame = Analytics(studio.db, settings).usage_by_day_and_user(args.days)
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(frame.columns)
        writer.writerows([csv_cell(value) for value in row] for row in frame.itertuples(index=False))
    else:
        print(frame.to_string(index=False) if len(frame) else "no generations in that period")
    return 0


def _reconcile(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    outcome = studio.reconcile()
    print(
        f"uploaded {len(outcome['uploaded'])}, still pending {len(outcome['pending'])}, "
        f"expired reservations {len(outcome['expired'])}, deleted objects {outcome['deleted']}"
    )
    if args.check:
        problems = studio.ledger.check_invariants()
        for problem in problems:
            print(f"invariant broken: {problem}")
        if problems:
            return 1
        print("invariants hold: no quota or budget overshot, the log's sums equal the counters")
    return 0 if not outcome["pending"] else 1


def _migrate(args: argparse.Namespace, settings: Settings, _studio: Studio | None) -> int:
    from imagegen.db import Database

    db = Database(settings.database)
    try:
        applied = db.migrate()
    finally:
        db.close()
    for name in applied:
        print(f"applied {name}")
    print(f"{db.describe()}: schema up to date" + ("" if applied else " (nothing to apply)"))
    return 0


def _copy_db(args: argparse.Namespace, settings: Settings, _studio: Studio | None) -> int:
    from imagegen.copydb import copy_database
    from imagegen.db import Database

    source, target = Database(settings.database), Database(args.to)
    try:
        report = copy_database(source, target)
    finally:
        source.close()
        target.close()
    for table, rows in report.rows.items():
        print(f"copied {rows} rows of {table}")
    for problem in report.mismatches:
        print(f"mismatch: {problem}")
    if not report.ok:
        return 1
    print(f"{source.describe()} -> {target.describe()}: every count and sum agrees")
    return 0


def _reindex(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    print(f"indexed {studio.library.reindex()} images from {studio.library.store.name} storage")
    return 0


def _doctor(args: argparse.Namespace, settings: Settings, _studio: Studio | None) -> int:
    from imagegen import doctor

    checks = doctor.run(settings)
    for check in checks:
        print(check.line())
    return 0 if all(c.ok for c in checks) else 1


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"
