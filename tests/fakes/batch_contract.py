"""The Files and Batch APIs as the fake OpenAI server speaks them, after the installed SDK's types
(`types/file_object.py`, `file_create_params.py`, `batch.py`, `batch_create_params.py`,
`batch_request_counts.py`, `batch_error.py`) and the Batch guide's JSONL shapes: an input file of request
lines uploaded with purpose `batch`, a batch created on it for one endpoint with a 24h window, polled until it
ends, its output and error files read line by line.

What the real API refuses is refused here with its status and error body: an unknown purpose, a batch file
that is not JSONL of {custom_id, method, url, body} lines, duplicate custom_ids, a line whose url is not the
batch's endpoint, a window other than 24h, an endpoint the Batch API does not take, a file that is not there
or not for batches, a cancel of a batch that has ended. What a batch does is the test's to choose (`outcome`):
"completed", "partial" (every third line fails), "failed" (refused at validation), "expired" (the window
passes with part of it done), "late" (it stays in progress until `release` is set)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
ENDPOINTS = (
    "/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations",
    "/v1/images/generations", "/v1/images/edits", "/v1/videos",
)  # fmt: skip
MAX_LINES = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024
OUTCOMES = ("completed", "partial", "failed", "expired", "late")
ENDED = ("failed", "completed", "expired", "cancelled")


class BatchRefusal(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


#: one line's answer when its batch runs: (status code, response body), from the request body and endpoint
Answer = Callable[[dict[str, Any], str], tuple[int, dict[str, Any]]]


class Batches:
    """The uploaded files and the batches made of them."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.outcome = "completed"
        #: a "late" batch stays in progress until this is set
        self.release = threading.Event()
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.files.clear()
            self.contents.clear()
            self.batches.clear()
            self.outcome = "completed"
            self.release = threading.Event()

    # -- files ---------------------------------------------------------------------------------------

    def upload(self, fields: dict[str, Any], files: dict[str, list[bytes]], filename: str) -> dict[str, Any]:
        purpose = fields.get("purpose")
        if purpose is None:
            raise BatchRefusal(400, "Missing required parameter: 'purpose'.", param="purpose")
        if purpose not in PURPOSES:
            raise BatchRefusal(
                400, f"'{purpose}' is not one of {list(PURPOSES)} - 'purpose'", param="purpose", code="invalid_value"
            )
        if not files.get("file"):
            raise BatchRefusal(400, "Missing required parameter: 'file'.", param="file")
        data = files["file"][0]
        if len(data) > MAX_FILE_BYTES:
            raise BatchRefusal(400, "File is too large: a batch file can be up to 200 MB.", param="file")
        if purpose == "batch":
            if not filename.endswith(".jsonl"):
                raise BatchRefusal(400, "Invalid file format for Batch API. Must be .jsonl", param="file")
            _request_lines(data)  # refused here, as the real API checks the file's lines on upload
        return self._keep(data, filename, purpose)

    def _keep(self, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
        now = int(time.time())
        file_id = f"file-{secrets.token_hex(12)}"
        found = {"id": file_id, "object": "file", "bytes": len(data), "created_at": now, "filename": filename,
                 "purpose": purpose, "status": "processed", "expires_at": now + 30 * 86400 if "batch" in purpose
                 else None, "status_details": None}  # fmt: skip
        with self.lock:
            self.files[file_id] = found
            self.contents[file_id] = data
        return found

    def file(self, file_id: str) -> dict[str, Any]:
        with self.lock:
            found = self.files.get(file_id)
        if found is None:
            raise BatchRefusal(404, f"No such File object: {file_id}", param="id")
        return found

    def content(self, file_id: str) -> bytes:
        self.file(file_id)
        return self.contents[file_id]

    # -- batches -------------------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("input_file_id", "endpoint", "completion_window"):
            if name not in body:
                raise BatchRefusal(400, f"Missing required parameter: '{name}'.", param=name)
        if body["completion_window"] != "24h":
            raise BatchRefusal(400, f"Invalid value: '{body['completion_window']}'. Supported values are: '24h'.",
                               param="completion_window", code="invalid_value")  # fmt: skip
        if body["endpoint"] not in ENDPOINTS:
            raise BatchRefusal(400, f"Invalid value: '{body['endpoint']}'. Supported values are: {list(ENDPOINTS)}.",
                               param="endpoint", code="invalid_value")  # fmt: skip
        metadata = body.get("metadata") or {}
        if len(metadata) > 16 or any(len(str(k)) > 64 or len(str(v)) > 512 for k, v in metadata.items()):
            raise BatchRefusal(400, "Invalid 'metadata': at most 16 pairs, keys up to 64 and values up to 512 "
                                    "characters.", param="metadata")  # fmt: skip
        source = self.file(body["input_file_id"])
        if source["purpose"] != "batch":
            raise BatchRefusal(400, f"File {source['id']} was not uploaded with purpose 'batch'.",
                               param="input_file_id")  # fmt: skip
        lines = _request_lines(self.contents[source["id"]])
        now = int(time.time())
        batch = {
            "id": f"batch_{secrets.token_hex(12)}", "object": "batch", "endpoint": body["endpoint"], "errors": None,
            "input_file_id": source["id"], "completion_window": "24h", "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
            "expires_at": now + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
            "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0}, "metadata": metadata or None,
            "model": None, "usage": None,
        }  # fmt: skip
        wrong = [i for i, line in enumerate(lines, 1) if line["url"] != body["endpoint"]]
        outcome = "failed" if wrong else self.outcome
        batch["_outcome"], batch["_lines"], batch["_wrong"] = outcome, lines, wrong
        with self.lock:
            self.batches[batch["id"]] = batch
        return _shown(batch)

    def retrieve(self, batch_id: str, answer: Answer) -> dict[str, Any]:
        """The batch as it stands; each look moves it one step on (validating, in progress, then its end),
        each line answered by `answer` when it ends."""
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                raise BatchRefusal(404, f"No batch found with id '{batch_id}'.", param="batch_id")
            self._advance(batch, answer)
            return _shown(batch)

    def listed(self) -> dict[str, Any]:
        """GET /v1/batches: newest first, as one page."""
        with self.lock:
            shown = [_shown(b) for b in sorted(self.batches.values(), key=lambda b: b["created_at"], reverse=True)]
        first, last = (shown[0]["id"], shown[-1]["id"]) if shown else (None, None)
        return {"object": "list", "data": shown, "first_id": first, "last_id": last, "has_more": False}

    def cancel(self, batch_id: str) -> dict[str, Any]:
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                raise BatchRefusal(404, f"No batch found with id '{batch_id}'.", param="batch_id")
            if batch["status"] in ENDED:
                raise BatchRefusal(409, f"Cannot cancel a batch with status '{batch['status']}'.",
                                   param="batch_id")  # fmt: skip
            batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
            batch["_outcome"] = "cancelled"
            return _shown(batch)

    def _advance(self, batch: dict[str, Any], answer: Answer) -> None:
        now = int(time.time())
        status, outcome = batch["status"], batch["_outcome"]
        if status == "validating":
            if outcome == "failed":
                errors = [{"code": "invalid_request", "line": line, "message": "This line's url is not the "
                           "batch's endpoint.", "param": "url"} for line in batch["_wrong"]] or [
                    {"code": "invalid_request", "line": None, "message": "The batch could not be validated.",
                     "param": None}]  # fmt: skip
                batch.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
            else:
                batch.update(status="in_progress", in_progress_at=now)
        elif status == "cancelling":
            self._finish(batch, answer, done=0, status="cancelled", at="cancelled_at")
        elif status == "in_progress" and not (outcome == "late" and not self.release.is_set()):
            if outcome == "expired":
                self._finish(batch, answer, done=len(batch["_lines"]) // 2, status="expired", at="expired_at")
            else:
                self._finish(batch, answer, done=len(batch["_lines"]), status="completed", at="completed_at")

    def _finish(self, batch: dict[str, Any], answer: Answer, *, done: int, status: str, at: str) -> None:
        """The lines answered (the first `done`; under "partial" every third of them fails) go to the output
        and error files; the rest, unanswered, to the error file as expired or cancelled."""
        outputs, errors = [], []
        for index, line in enumerate(batch["_lines"]):
            entry = {"id": f"batch_req_{secrets.token_hex(8)}", "custom_id": line["custom_id"]}
            if index >= done:
                code = "batch_expired" if status == "expired" else "batch_cancelled"
                errors.append({**entry, "response": None, "error": {
                    "code": code, "message": "This request could not be executed before the batch ended."}})  # fmt: skip
            elif batch["_outcome"] == "partial" and index % 3 == 2:
                body = {"error": {"message": "Your request was rejected by the safety system.",
                                  "type": "image_generation_user_error", "param": None, "code": "moderation_blocked"}}  # fmt: skip
                errors.append({**entry, "response": {"status_code": 400, "request_id": secrets.token_hex(8),
                                                     "body": body}, "error": None})  # fmt: skip
            else:
                code, body = answer(line["body"], batch["endpoint"])
                response = {"status_code": code, "request_id": secrets.token_hex(8), "body": body}
                (outputs if code == 200 else errors).append({**entry, "response": response, "error": None})
        batch["request_counts"] = {"total": len(batch["_lines"]), "completed": len(outputs), "failed": len(errors)}
        if outputs:
            batch["output_file_id"] = self._jsonl(outputs, f"{batch['id']}_output.jsonl")
        if errors:
            batch["error_file_id"] = self._jsonl(errors, f"{batch['id']}_error.jsonl")
        batch.update({"status": status, at: int(time.time()), "finalizing_at": int(time.time())})

    def _jsonl(self, entries: list[dict[str, Any]], filename: str) -> str:
        data = "".join(json.dumps(entry) + "\n" for entry in entries).encode()
        now = int(time.time())
        file_id = f"file-{secrets.token_hex(12)}"
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(data), "created_at": now,
                               "filename": filename, "purpose": "batch_output", "status": "processed",
                               "expires_at": now + 30 * 86400, "status_details": None}  # fmt: skip
        self.contents[file_id] = data
        return file_id


def _request_lines(data: bytes) -> list[dict[str, Any]]:
    """A batch file's request lines, or the real API's refusal of the file."""
    lines, seen = [], set()
    text = data.decode("utf-8", errors="replace").splitlines()
    if not [t for t in text if t.strip()]:
        raise BatchRefusal(400, "The batch input file is empty.", param="file")
    for number, raw in enumerate(text, 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            raise BatchRefusal(400, f"Line {number} is not valid JSON.", param="file") from None
        if not isinstance(line, dict) or not {"custom_id", "method", "url", "body"} <= set(line):
            raise BatchRefusal(400, f"Line {number} must have custom_id, method, url and body.", param="file")
        if line["method"] != "POST":
            raise BatchRefusal(400, f"Line {number}: method must be POST.", param="file")
        if line["custom_id"] in seen:
            raise BatchRefusal(400, f"Line {number}: duplicate custom_id '{line['custom_id']}'.", param="file")
        seen.add(line["custom_id"])
        lines.append(line)
    if len(lines) > MAX_LINES:
        raise BatchRefusal(400, f"A batch file can hold up to {MAX_LINES} requests.", param="file")
    return lines


def _shown(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if not k.startswith("_")}
