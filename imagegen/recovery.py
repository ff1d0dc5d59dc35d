"""Settling what a stopped process left: answers that arrived as it died, spooled images not yet uploaded,
reservations nobody settled, deletions half done. Run at start-up and by every replica's sweep."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from imagegen.engine import Engine
from imagegen.errors import ImagegenError
from imagegen.pipeline import Clock, answered, finish, quiet
from imagegen.request import GenerationRequest

log = logging.getLogger("imagegen.recovery")


def reconcile(engine: Engine) -> dict[str, Any]:
    """Settle what a crashed process left: spooled answers are finished, charged and uploaded; stale
    reservations expire (as possibly billed when their provider call had started); stored objects of
    deleted images are removed."""
    recovered, still_pending, failed = [], [], []
    for request_id in engine.spool.answered():
        try:
            keep_answered(engine, request_id)
        except (ImagegenError, OSError) as exc:  # one bad entry must not stop the rest of the sweep
            log.warning("reconcile could not keep the answer to %s: %s", request_id, exc)
            failed.append(request_id)
    engine.spool.clean_leftovers()
    for request_id in engine.spool.pending():
        with engine.spool.claim(request_id) as entry:
            if entry is None:
                continue  # being settled right now by the generation that wrote it
            try:
                result = finish(engine, entry, quiet(None), Clock(), force_upload=True)
            except ImagegenError as exc:
                log.warning("reconcile could not finish %s: %s", request_id, exc.message)
                failed.append(request_id)
                continue
            (still_pending if result.pending_upload else recovered).append(request_id)
    expired = engine.ledger.expire_stale()
    deleted = engine.library.finish_deletes()
    return {"uploaded": recovered, "pending": still_pending, "failed": failed, "expired": expired, "deleted": deleted}


def keep_answered(engine: Engine, request_id: str) -> bool:
    """Make the raw spool entry a process that died after its answer arrived could not: from the request's
    intent and the answer kept as it arrived, charged by its usage. An answer cut short (or an error) is
    dropped; the reservation's expiry then records it as possibly billed. True when an entry was made."""
    with engine.spool.claim_answered(request_id) as claimed:
        if claimed is None:
            return False
        intent, answer_file, locked = claimed
        recover = getattr(engine.provider, "recover_answer", None)
        output = recover(answer_file) if recover is not None else None
        if output is None or not output.images:
            engine.spool.remove(request_id)
            return False
        request = GenerationRequest.from_dict(intent["request"])
        charge = engine.catalog.charge(request, output.usage, Decimal(intent["estimated_cost_usd"]))
        data = {**answered(intent, output, charge), "created_at": intent["created_at"]}
        answers = [image.data for image in output.images]
        engine.spool.keep_raw(request_id, answers, data, begun=locked).release()
        log.warning("kept the answer to %s that a stopped process had received", request_id)
        return True
