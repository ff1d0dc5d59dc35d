"""A rewrite of a prompt by the writing Director, metered like an image: found in the team's cache when the
same inputs were rewritten before (no call, no charge); otherwise reserved as an upper bound within the team
budget before the call, refunded when nothing was sent, charged from what the writer reports, checked (see
rewriter.py) and kept. A rewrite counts against the budget, not against a user's image quota."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Protocol

from imagegen.checks import clean_text, scoped_id, visible
from imagegen.director import Preset
from imagegen.engine import Engine
from imagegen.errors import ImagegenError, InvalidPrompt
from imagegen.localtime import utc_now_iso
from imagegen.money import to_micros, to_usd
from imagegen.rewriter import (
    RewriteAnswer,
    RewriteRejected,
    cache_key,
    instructions,
    offline_answer,
    read_answer,
    user_input,
)
from imagegen.settings import Settings
from imagegen.text_models import TextModel, text_model

#: the team whose cache a rewrite is kept in (one team per deployment today)
TEAM = "team"


@dataclass(frozen=True)
class WriteJob:
    text: str
    preset: Preset
    instructions: str
    user_input: str
    limit: int
    max_output_tokens: int


@dataclass(frozen=True)
class Written:
    raw: str
    input_tokens: int = 0
    output_tokens: int = 0
    #: why what was written (and billed) is no rewrite: a refusal, an answer cut off; "" when it is one
    problem: str = ""


class Writer(Protocol):
    model: TextModel

    def write(self, job: WriteJob) -> Written: ...


@dataclass
class OfflineWriter:
    """The studio's own rules over the presets: no model, no network, $0, always the same answer."""

    model: TextModel = field(default_factory=lambda: text_model("offline-rewriter"))

    def write(self, job: WriteJob) -> Written:
        return Written(offline_answer(job.text, job.preset, job.limit))


def make_writer(settings: Settings) -> Writer:
    """The writer this deployment uses: OpenAI's Responses API where OpenAI is the provider, the offline
    rules otherwise (Azure's deployments for text are not configured here yet)."""
    if settings.provider != "openai" or settings.rewrite_model == "offline-rewriter":
        return OfflineWriter()
    import openai

    from imagegen.providers.openai_text import make_openai_writer

    client = openai.OpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url or None,
        timeout=settings.provider_timeout,
        max_retries=0,  # a timed-out call may still be billed: never sent twice
    )
    return make_openai_writer(settings, client)


@dataclass(frozen=True)
class Rewrite:
    user_text: str
    prompt: str
    additions: tuple[tuple[str, str], ...]
    reason: str
    preset: str
    model: str
    instruction_version: int
    cost_usd: float
    #: read from the team's cache: no call was made and nothing was charged
    cached: bool


def rewrite(
    engine: Engine, writer: Writer, text: str, preset_name: str, user: str, *, limit: int, house_style: str = ""
) -> Rewrite:
    """The prompt rewritten under the preset's instructions (`house_style`, at their current version).
    Raises InvalidPrompt for text with nothing to rewrite, LimitReached before any call when the budget has
    no room for the most a rewrite can cost, RewriteRejected when the answer is not a usable rewrite."""
    typed = " ".join(clean_text(text)[0].split())
    if not visible(typed):
        raise InvalidPrompt("Write a prompt first: there is nothing to rewrite.")
    if len(typed) > limit:
        raise InvalidPrompt(f"The prompt has {len(typed):,} characters; the image model takes at most {limit:,}.")
    preset = engine.presets.get(preset_name)
    version = engine.team.version(f"rewriter:{preset.name}")
    params = {"max_output_tokens": writer.model.max_output_tokens}
    key = cache_key(TEAM, typed, preset.name, version, writer.model.id, params)
    kept = _cached(engine, key)
    if kept is not None:
        return kept
    job = WriteJob(
        typed, preset, instructions(preset, house_style), user_input(typed), limit, writer.model.max_output_tokens
    )
    ledger_id = scoped_id(user, f"rewrite-{uuid.uuid4().hex}")
    bound = writer.model.bound(len((job.instructions + job.user_input).encode()))
    engine.ledger.reserve(
        ledger_id=ledger_id,
        user=user,
        n=0,
        estimated_micros=to_micros(bound),
        details={"model": writer.model.id, "preset": preset.name, "output_format": "text", "prompt": typed},
    )
    read, written = _written(engine, writer, job, ledger_id)
    cost = to_micros(writer.model.charge(written.input_tokens, written.output_tokens))
    engine.ledger.commit(ledger_id, actual_micros=cost, estimated=writer.model.rates_unconfirmed)
    _keep(engine, key, user, preset.name, version, writer.model.id, typed, read, cost)
    return Rewrite(
        typed, read.prompt, read.additions, read.reason, preset.name, writer.model.id, version, to_usd(cost), False
    )


def _written(engine: Engine, writer: Writer, job: WriteJob, ledger_id: str) -> tuple[RewriteAnswer, Written]:
    """The writer's answer, checked; its reservation settled when it fails (a checked answer that is not a
    rewrite was still written, and is charged)."""
    try:
        written = writer.write(job)
    except ImagegenError as exc:
        if getattr(exc, "charged", False):
            engine.ledger.record_ambiguous(ledger_id, error_code=exc.code, message=exc.message)
        else:
            engine.ledger.refund(ledger_id, error_code=exc.code, message=exc.message)
        raise
    try:
        if written.problem:
            raise RewriteRejected(written.problem)
        return read_answer(written.raw, limit=job.limit), written
    except RewriteRejected as exc:
        cost = to_micros(writer.model.charge(written.input_tokens, written.output_tokens))
        engine.ledger.record_ambiguous(ledger_id, error_code=exc.code, message=exc.message, billed_micros=cost)
        raise


def _cached(engine: Engine, key: str) -> Rewrite | None:
    rows = engine.db.query(
        "SELECT preset, instruction_version, model, user_text, answer FROM rewrites WHERE key = :key", {"key": key}
    )
    if not rows:
        return None
    preset, version, model, typed, answer = rows[0]
    read = json.loads(answer)
    additions = tuple((facet, text) for facet, text in read["additions"])
    return Rewrite(typed, read["prompt"], additions, read["reason"], preset, model, int(version), 0.0, True)


def _keep(
    engine: Engine,
    key: str,
    user: str,
    preset: str,
    version: int,
    model: str,
    typed: str,
    read: RewriteAnswer,
    cost: int,
) -> None:
    answer = json.dumps({"prompt": read.prompt, "additions": [list(a) for a in read.additions], "reason": read.reason})
    with engine.db.write() as conn:
        conn.execute(
            'INSERT INTO rewrites (key, "user", created_at, preset, instruction_version, model, user_text, answer, '
            "cost_micros) VALUES (:key, :user, :at, :preset, :version, :model, :typed, :answer, :cost) "
            "ON CONFLICT (key) DO NOTHING",
            {
                "key": key, "user": user, "at": utc_now_iso(), "preset": preset, "version": version, "model": model,
                "typed": typed, "answer": answer, "cost": cost,
            },
        )  # fmt: skip
