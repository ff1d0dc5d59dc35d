"""A rewrite of a prompt by the writing Director, metered like an image: found in the team's cache when the
same inputs were rewritten before (no call, no charge); otherwise reserved as an upper bound within the team
budget before the call, refunded when nothing was sent, charged from what the writer reports, checked (see
rewriter.py) and kept. So is a description of an image: the prompt that would make it. Both count against
the team budget, and against a user's image quota only where an admin says so (team.writing_in_quota)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from imagegen.checks import clean_text, scoped_id, visible
from imagegen.director import Preset
from imagegen.engine import Engine
from imagegen.errors import ImagegenError, InvalidPrompt
from imagegen.imaging import for_description
from imagegen.localtime import utc_now_iso
from imagegen.money import to_micros, to_usd
from imagegen.rewriter import (
    RewriteAnswer,
    RewriteRejected,
    cache_key,
    describe_instructions,
    instructions,
    offline_answer,
    offline_description,
    prompt_so_far,
    read_answer,
    rewrite_segments,
    user_input,
)
from imagegen.settings import Settings
from imagegen.text_models import TextModel, text_model

#: the team whose cache a rewrite is kept in (one team per deployment today)
TEAM = "team"


@dataclass(frozen=True)
class WriteJob:
    text: str
    instructions: str
    user_input: str
    limit: int
    max_output_tokens: int
    #: the preset written under (None when describing an image)
    preset: Preset | None = None
    #: the image to describe, as a data URL of a PNG at most DESCRIBE_EDGE on its long side ("" for a rewrite)
    image: str = ""


@dataclass(frozen=True)
class Written:
    raw: str
    input_tokens: int = 0
    output_tokens: int = 0
    #: why what was written (and billed) is no rewrite: a refusal, an answer cut off; "" when it is one
    problem: str = ""


class Writer(Protocol):
    model: TextModel

    def write(self, job: WriteJob, on_delta: Callable[[str], None] | None = None) -> Written:
        """The answer; each piece of it passed to `on_delta` as it is written, when a listener is given."""
        ...


@dataclass
class OfflineWriter:
    """The studio's own rules over the presets: no model, no network, $0, always the same answer."""

    model: TextModel = field(default_factory=lambda: text_model("offline-rewriter"))

    def write(self, job: WriteJob, on_delta: Callable[[str], None] | None = None) -> Written:
        if job.image:
            raw = offline_description(base64.b64decode(job.image.split(",", 1)[1]))
        else:
            assert job.preset is not None
            raw = offline_answer(job.text, job.preset, job.limit)
        for start in range(0, len(raw), 24) if on_delta else ():
            on_delta(raw[start : start + 24])  # as a model streams: a few tokens at a time
        return Written(raw)


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
    #: where it is kept among the team's rewrites: a request made from it names it
    key: str
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

    @property
    def segments(self) -> list[tuple[str, str]]:
        """The prompt in runs, each with the facet it adds, "" for the user's own words."""
        return rewrite_segments(self.user_text, self.prompt, self.additions)


def rewrite(
    engine: Engine,
    writer: Writer,
    text: str,
    preset_name: str,
    user: str,
    *,
    limit: int,
    house_style: str = "",
    brand: str = "",
    in_quota: bool = False,
    on_text: Callable[[str], None] | None = None,
) -> Rewrite:
    """The prompt rewritten under the preset's instructions (`house_style`, at their current version) and
    the team's brand kit (`brand`: its notes and colours; a change of them is a new rewrite),
    `on_text` given the prompt so far as it is written. Raises InvalidPrompt for text with nothing to
    rewrite, LimitReached before any call when the budget (and with `in_quota` the user's images) has no room
    for the most a rewrite can cost, RewriteRejected when the answer is not a usable rewrite."""
    typed = " ".join(clean_text(text)[0].split())
    if not visible(typed):
        raise InvalidPrompt("Write a prompt first: there is nothing to rewrite.")
    if len(typed) > limit:
        raise InvalidPrompt(f"The prompt has {len(typed):,} characters; the image model takes at most {limit:,}.")
    preset = engine.presets.get(preset_name)
    version = engine.team.version(f"rewriter:{preset.name}")
    branded = {"brand": hashlib.sha256(brand.strip().encode()).hexdigest()[:16]} if brand.strip() else {}
    key = cache_key(TEAM, typed, preset.name, version, writer.model.id, {**_params(writer), **branded})
    kept = _cached(engine, key)
    if kept is not None:
        return kept
    job = WriteJob(
        typed, instructions(preset, house_style, brand), user_input(typed), limit, writer.model.max_output_tokens,
        preset,
    )  # fmt: skip
    read, cost = _metered(engine, writer, job, user, in_quota, on_text)
    source = Source(key, user, preset.name, version, writer.model.id, typed, WORDS)
    _keep(engine, source, read, cost)
    return Rewrite(
        key, typed, read.prompt, read.additions, read.reason, preset.name, writer.model.id, version, to_usd(cost), False
    )


def describe(
    engine: Engine,
    writer: Writer,
    picture: bytes,
    user: str,
    *,
    limit: int,
    house_style: str = "",
    in_quota: bool = False,
    on_text: Callable[[str], None] | None = None,
) -> Rewrite:
    """The prompt that would make `picture` (a stored image or a checked upload), written by the describer
    and metered as a rewrite is; the same image described again is read from the team's kept answers.
    Raises InvalidRequest for bytes that are not an image, LimitReached before any call, RewriteRejected."""
    small = for_description(picture)
    digest = hashlib.sha256(small).hexdigest()
    version = engine.team.version(DESCRIBER)
    key = cache_key(TEAM, digest, "", version, writer.model.id, {**_params(writer), "describe": True})
    kept = _cached(engine, key)
    if kept is not None:
        return kept
    image = "data:image/png;base64," + base64.b64encode(small).decode()
    job = WriteJob(
        "", describe_instructions(house_style), user_input(""), limit, writer.model.max_output_tokens, image=image
    )
    read, cost = _metered(engine, writer, job, user, in_quota, on_text)
    _keep(engine, Source(key, user, "", version, writer.model.id, "", IMAGE + digest), read, cost)
    return Rewrite(key, "", read.prompt, read.additions, read.reason, "", writer.model.id, version, to_usd(cost), False)


#: what a kept rewrite was written from: the user's words, or an image (with its pixels' digest)
WORDS = "words"
IMAGE = "image:"
#: the team setting holding the describer's house style (its version is kept with each description)
DESCRIBER = "describer"


@dataclass(frozen=True)
class Source:
    """A kept rewrite's inputs: where it is kept, who asked, the preset and its instructions' version, the
    model, and what it was written from."""

    key: str
    user: str
    preset: str
    version: int
    model: str
    typed: str
    source: str


def _params(writer: Writer) -> dict[str, Any]:
    return {"max_output_tokens": writer.model.max_output_tokens}


def _metered(
    engine: Engine,
    writer: Writer,
    job: WriteJob,
    user: str,
    in_quota: bool,
    on_text: Callable[[str], None] | None,
) -> tuple[RewriteAnswer, int]:
    """The checked answer and its cost in micros: reserved at its bound before the call, settled after it."""
    ledger_id = scoped_id(user, f"rewrite-{uuid.uuid4().hex}")
    bound = writer.model.bound(len((job.instructions + job.user_input).encode()), images=1 if job.image else 0)
    engine.ledger.reserve(
        ledger_id=ledger_id,
        user=user,
        n=1 if in_quota else 0,
        estimated_micros=to_micros(bound),
        details={
            "model": writer.model.id,
            "preset": job.preset.name if job.preset else "",
            "output_format": "text",
            "prompt": job.text if job.preset else "(describe an image)",
        },
    )
    read, written = _written(engine, writer, job, ledger_id, _listener(on_text))
    cost = to_micros(writer.model.charge(written.input_tokens, written.output_tokens))
    engine.ledger.commit(ledger_id, actual_micros=cost, estimated=writer.model.rates_unconfirmed)
    return read, cost


def _listener(on_text: Callable[[str], None] | None) -> Callable[[str], None] | None:
    """A writer's pieces of raw answer turned into the prompt so far, passed on each time it grows."""
    if on_text is None:
        return None
    pieces: list[str] = []
    shown = [""]

    def heard(delta: str) -> None:
        pieces.append(delta)
        prompt = prompt_so_far("".join(pieces))
        if prompt != shown[0]:
            shown[0] = prompt
            on_text(prompt)

    return heard


def _written(
    engine: Engine, writer: Writer, job: WriteJob, ledger_id: str, on_delta: Callable[[str], None] | None
) -> tuple[RewriteAnswer, Written]:
    """The writer's answer, checked; its reservation settled when it fails (a checked answer that is not a
    rewrite was still written, and is charged)."""
    try:
        written = writer.write(job, on_delta)
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
    return Rewrite(key, typed, read["prompt"], additions, read["reason"], preset, model, int(version), 0.0, True)


def kept_rewrite(engine: Engine, key: str) -> dict[str, Any] | None:
    """What an image's record keeps of the rewrite its prompt came from: the user's words, the rewrite, the
    preset and its instructions' version, the model, who asked and when. None when no such rewrite is kept."""
    rows = engine.db.query(
        'SELECT "user", created_at, preset, instruction_version, model, user_text, answer, source FROM rewrites '
        "WHERE key = :key",
        {"key": key},
    )
    if not rows:
        return None
    user, created_at, preset, version, model, typed, answer, source = rows[0]
    return {
        "key": key, "user": user, "created_at": created_at, "preset": preset, "instruction_version": int(version),
        "model": model, "user_text": typed, "prompt": json.loads(answer)["prompt"],
        "from": "image" if source.startswith(IMAGE) else "words",
    }  # fmt: skip


def _keep(engine: Engine, source: Source, read: RewriteAnswer, cost: int) -> None:
    answer = json.dumps({"prompt": read.prompt, "additions": [list(a) for a in read.additions], "reason": read.reason})
    with engine.db.write() as conn:
        conn.execute(
            'INSERT INTO rewrites (key, "user", created_at, preset, instruction_version, model, user_text, answer, '
            "cost_micros, source) VALUES (:key, :user, :at, :preset, :version, :model, :typed, :answer, :cost, "
            ":source) ON CONFLICT (key) DO NOTHING",
            {
                "key": source.key, "user": source.user, "at": utc_now_iso(), "preset": source.preset,
                "version": source.version, "model": source.model, "typed": source.typed, "answer": answer,
                "cost": cost, "source": source.source,
            },
        )  # fmt: skip
