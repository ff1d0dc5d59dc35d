"""What each command of the command line does (cli.py reads the command): a caller of the Studio, as a
page is."""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import stat
import sys
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

# Only the face, and each name where it is used: `--help` and a command that draws no figures import
# neither the studio's database driver nor pandas.
from imagegen import InvalidRequest

if TYPE_CHECKING:
    from imagegen import GenerationRequest, GenerationResult, Settings, Studio, Upload


def generate(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    request = _request(args)
    user = args.user or settings.local_user
    if args.rewrite:  # written up under the preset's instructions, then sent exactly as written
        kind = request.kind
        preset = request.preset or studio.form_choices(None, editing=False, kind=kind).presets[0]
        written = studio.rewrite(request.prompt, preset, user, model=request.model or None)
        request = replace(request, prompt=written.prompt, preset=preset, raw=True, rewrite=written.key)
    return _report(args, studio.generate(request, user))


def edit(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
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
    from imagegen import MAX_MASK_BYTES, MAX_UPLOAD_BYTES

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
    from imagegen import GenerationRequest

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
        "frame_count": args.frames,
        "frame_duration_ms": args.frame_ms,
        "svg_author": args.svg_author,
        "svg_effort": args.svg_effort,
    }
    if args.request_id:
        fields["request_id"] = args.request_id
    return GenerationRequest(**fields)


def _report(args: argparse.Namespace, result: GenerationResult) -> int:
    from imagegen import usd

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


def models(args: argparse.Namespace, settings: Settings, _studio: Studio | None) -> int:
    from imagegen import Catalog

    today = settings.today()
    for spec in Catalog.load().models():
        status = spec.lifecycle_on(today)
        when = f" (shutdown {spec.shutdown})" if spec.shutdown and status != "active" else ""
        print(f"{spec.id:24} {status}{when}")
        print(f"    sizes: {spec.describe_sizes()}; qualities: {', '.join(spec.qualities)}; n <= {spec.n_max}")
        unconfirmed = (
            f" ({', '.join(spec.unconfirmed_formats)} unconfirmed: preview access)" if spec.unconfirmed_formats else ""
        )
        print(f"    formats: {', '.join(spec.formats)}{unconfirmed}")
    return 0


def rewrite(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    from dataclasses import asdict

    from imagegen import usd

    written = studio.rewrite(args.text, args.preset, args.user or settings.local_user)
    if args.json:
        print(json.dumps({"status": "succeeded", **asdict(written)}))
    else:
        print(written.prompt)
        cached = " (kept from an earlier rewrite: no call, no charge)" if written.cached else ""
        print(f"note: {written.reason} {written.model}, {usd(written.cost_usd)}{cached}", file=sys.stderr)
    return 0


def describe(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    """The prompt that would make an image file (PNG, JPEG, WebP, GIF or SVG), written by the describer."""
    from dataclasses import asdict

    from imagegen import usd

    written = studio.describe(_read(args.image, "image"), args.user or settings.local_user)
    if args.json:
        print(json.dumps({"status": "succeeded", **asdict(written)}))
    else:
        print(written.prompt)
        cached = " (kept from an earlier description: no call, no charge)" if written.cached else ""
        print(f"note: {written.reason} {written.model}, {usd(written.cost_usd)}{cached}", file=sys.stderr)
    return 0


def presets(args: argparse.Namespace, settings: Settings, _studio: Studio | None) -> int:
    from imagegen import load_presets

    for name, preset in load_presets().presets.items():
        print(f"{name:14} {preset.label}: {preset.description}")
    return 0


def quota(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    if args.value is not None:
        if not args.user:
            raise InvalidRequest("Name the user: python -m imagegen quota USER --set N")
        studio.set_quota(args.user, args.value, by=_operator())
    users = [args.user] if args.user else sorted({o["User"] for o in studio.quota_overrides()} | {settings.local_user})
    for user in users:
        allowance = studio.allowance(user)
        print(
            f"{user}: {allowance.images_used} used, {allowance.images_in_flight} in flight, quota {allowance.quota} today"
        )
    return 0


def budget(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    from imagegen import usd

    if args.value is not None:
        try:
            amount = Decimal(args.value)
        except InvalidOperation:
            raise InvalidRequest(f"{args.value!r} is not an amount in US dollars.") from None
        studio.set_budget(amount, by=_operator())
    allowance = studio.allowance(settings.local_user)
    print(
        f"team budget {usd(allowance.budget_usd)} today: {usd(allowance.spent_usd)} spent, "
        f"{usd(allowance.in_flight_usd)} in flight, {usd(allowance.budget_left_usd)} left"
    )
    return 0


def usage(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    if not 1 <= args.days <= 3660:
        raise InvalidRequest("--days is 1 to 3660.")
    from imagegen import csv_cell

    frame = studio.usage_by_day_and_user(args.days)
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(frame.columns)
        writer.writerows([csv_cell(value) for value in row] for row in frame.itertuples(index=False))
    else:
        print(frame.to_string(index=False) if len(frame) else "no generations in that period")
    return 0


def reconcile(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    outcome = studio.reconcile()
    print(
        f"uploaded {len(outcome['uploaded'])}, still pending {len(outcome['pending'])}, "
        f"expired reservations {len(outcome['expired'])}, deleted objects {outcome['deleted']}"
    )
    if args.check:
        problems = studio.check_invariants()
        for problem in problems:
            print(f"invariant broken: {problem}")
        if problems:
            return 1
        print("invariants hold: no quota or budget overshot, the log's sums equal the counters")
    return 0 if not outcome["pending"] else 1


def migrate(args: argparse.Namespace, settings: Settings, _studio: Studio | None) -> int:
    from imagegen import migrate_database

    applied, where = migrate_database(settings.database)
    for name in applied:
        print(f"applied {name}")
    print(f"{where}: schema up to date" + ("" if applied else " (nothing to apply)"))
    return 0


def copy_db(args: argparse.Namespace, settings: Settings, _studio: Studio | None) -> int:
    from imagegen import copy_studio_database

    report = copy_studio_database(settings.database, args.to)
    for table, rows in report.rows.items():
        print(f"copied {rows} rows of {table}")
    for problem in report.mismatches:
        print(f"mismatch: {problem}")
    if not report.ok:
        return 1
    print(f"{report.source} -> {report.target}: every count and sum agrees")
    return 0


def reindex(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    indexed, storage = studio.reindex()
    print(f"indexed {indexed} images from {storage} storage")
    return 0


def doctor(args: argparse.Namespace, settings: Settings, _studio: Studio | None) -> int:
    from imagegen import check_setup

    checks = check_setup(settings)
    for check in checks:
        print(check.line())
    return 0 if all(c.ok for c in checks) else 1


def board(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    from imagegen import board_commands

    return board_commands.run(args, settings, studio)


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def run(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    from imagegen import run_commands

    return run_commands.run(args, settings, studio)
