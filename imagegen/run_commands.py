"""`python -m imagegen run FILE`: a run of many prompts from a file (one per line, or a CSV's first column)
times presets and sizes, planned and priced whole, then run all or nothing or as far as it goes through the
Studio as the Runs page does. `--plan` shows what it would make and spend, and spends nothing."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from imagegen import GenerationRequest, InvalidRequest

if TYPE_CHECKING:
    from imagegen import RunPlan, RunStatus, Settings, Studio

#: how often the command looks at its run while it waits
POLL_SECONDS = 0.5
#: the exit code of a run that ended with some requests failed or cancelled
SOME_FAILED = 5


def add_parser(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="a run of many prompts: a file of them times presets and sizes, results on a new board",
        description="Exit codes: 0 every request made; 2 bad input and 3 a limit that cannot hold the run "
        f"whole (all or nothing), both before anything is spent; {SOME_FAILED} the run ended with some requests "
        "failed or cancelled.",
    )
    run.add_argument("file", help="the prompts: a text file, one per line, or a .csv file (its first column)")
    run.add_argument("--preset", action="append", default=[], help="a preset (repeat for more; default: photo)")
    run.add_argument("--size", action="append", default=[], help="a size (repeat for more; default: the model's)")
    run.add_argument("--model", default="")
    run.add_argument("--quality", default="")
    run.add_argument("--mode", choices=("all", "as-far-as-it-goes", "batch"), default="all",
                     help="all or nothing (default), make what fits and stop, or send it through the Batch API "
                          "(made within its window by the servers: the command returns once it is sent)")  # fmt: skip
    run.add_argument("--name", default="", help="the results board's name (default: Run of N)")
    run.add_argument("--plan", action="store_true", help="show every request and the total; spend nothing")
    run.add_argument("--user", default=None, help="who runs it (default: IMAGEGEN_LOCAL_USER)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.set_defaults(handler="run")


def run(args: argparse.Namespace, settings: Settings, studio: Studio) -> int:
    user = args.user or settings.local_user
    plan = _plan(args, studio, user)
    if args.plan:
        return _print_plan(args, plan)
    mode = {"all": "all", "as-far-as-it-goes": "as far as it goes", "batch": "batch"}[args.mode]
    run_id = studio.start_run(plan, user, mode, args.name)
    if mode == "batch":  # made within the window: every server's sweep reads it and settles it
        return _print_sent(args, studio.run_status(run_id, user))
    try:
        status = _wait(args, studio, run_id, user)
    except KeyboardInterrupt:  # stop what has not started, at no cost; what renders finishes and is kept
        studio.cancel_run(run_id, user)
        status = _wait(args, studio, run_id, user)
    finally:
        studio.stop_jobs()
    return _print_status(args, status)


def _plan(args: argparse.Namespace, studio: Studio, user: str) -> RunPlan:
    try:
        with open(args.file, "rb") as source:
            data = source.read(4 * 1024 * 1024 + 1)
    except OSError as exc:
        raise InvalidRequest(f"The prompts file {args.file!r} could not be read: {exc.strerror}.") from exc
    if len(data) > 4 * 1024 * 1024:
        raise InvalidRequest(f"The prompts file {args.file!r} is over 4 MB: a run takes a few hundred prompts.")
    base = GenerationRequest("run", model=args.model, quality=args.quality)
    presets = args.preset or ["photo"]
    sizes = args.size or [studio.form_choices(args.model or None, editing=False).default_size]
    if args.file.lower().endswith(".csv"):
        return studio.plan_run(user, csv_bytes=data, presets=presets, sizes=sizes, base=base)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The prompts file {args.file!r} is not UTF-8 text.") from exc
    return studio.plan_run(user, prompts=text, presets=presets, sizes=sizes, base=base)


def _print_plan(args: argparse.Namespace, plan: RunPlan) -> int:
    from imagegen import usd

    left = plan.allowance
    if args.json:
        items = [{"position": i.position, "prompt": i.prompt, "preset": i.preset, "size": i.size,
                  "estimate_usd": i.estimate_usd, "reserve_usd": i.reserve_micros / 1e6} for i in plan.items]  # fmt: skip
        print(json.dumps({"status": "planned", "requests": len(plan.items), "images": plan.images,
                          "estimate_usd": plan.estimate_usd, "reserve_usd": plan.reserve_usd,
                          "fits": plan.fitting(), "images_left": left.images_left,
                          "budget_left_usd": left.budget_left_usd, "items": items}))  # fmt: skip
        return 0
    for item in plan.items:
        print(f"{item.position + 1:4}  {item.preset:12} {item.size:10} {usd(item.estimate_usd):>9}  {item.prompt}")
    print(f"{len(plan.items)} requests, {plan.images} images, about {usd(plan.estimate_usd)} "
          f"(up to {usd(plan.reserve_usd)} reserved while it runs)")  # fmt: skip
    fits = "the whole run" if plan.fits_whole else f"the first {plan.fitting()} of {len(plan.items)} requests"
    print(f"today's limits ({left.images_left} images, {usd(left.budget_left_usd)} left) hold {fits}")
    return 0


def _wait(args: argparse.Namespace, studio: Studio, run_id: str, user: str) -> RunStatus:
    said = ""
    while True:
        status = studio.run_status(run_id, user)
        line = f"{status.settled} of {status.total} settled"
        if line != said and not args.json:
            print(line, file=sys.stderr)
            said = line
        if status.finished:
            return status
        time.sleep(POLL_SECONDS)


def _print_sent(args: argparse.Namespace, status: RunStatus) -> int:
    if args.json:
        print(json.dumps({"status": "sent", "run": status.id, "board": status.board_id, "requests": status.total}))
    else:
        print(f"run {status.id}: {status.total} requests sent as one batch; the studio's servers settle them as "
              f"the batch ends and put the images on board {status.board_id}")  # fmt: skip
    return 0


def _print_status(args: argparse.Namespace, status: RunStatus) -> int:
    from imagegen import usd

    made = status.counts.get("succeeded", 0)
    code = 0 if made == status.total else SOME_FAILED
    if args.json:
        items = [{"position": i["position"], "prompt": i["prompt"], "preset": i["preset"], "size": i["size"],
                  "status": i["status"], "error": i["error"], "image_keys": i["image_keys"]} for i in status.items]  # fmt: skip
        print(json.dumps({"status": "succeeded" if code == 0 else "partial", "run": status.id,
                          "board": status.board_id, "counts": status.counts, "images": status.images,
                          "spent_usd": status.spent_usd, "items": items}))  # fmt: skip
        return code
    for item in status.items:
        if item["status"] != "succeeded":
            print(f"#{item['position'] + 1} {item['status']}: {item['error'] or ''}  {item['prompt']}")
    print(f"run {status.id}: {made} of {status.total} made, {status.images} images, {usd(status.spent_usd)}; "
          f"board {status.board_id}")  # fmt: skip
    return code
