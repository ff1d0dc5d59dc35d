"""The one small interface every image backend implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from imagegen.catalog import ModelSpec
from imagegen.edits import EditInputs
from imagegen.errors import ImagegenError
from imagegen.request import GenerationRequest, Usage

#: called with (partial index, preview image bytes) as previews arrive
PartialCallback = Callable[[int, bytes], None]
#: called before a provider asks again: (the attempt about to be made, of how many, seconds it waits, why)
RetryCallback = Callable[[int, int, float, str], None]


def _no_retry_report(attempt: int, attempts: int, wait_s: float, reason: str) -> None:
    return None


@dataclass(frozen=True)
class RenderJob:
    request: GenerationRequest
    prompt: str
    spec: ModelSpec
    user_tag: str
    style_hint: str = "photo"
    #: an edit's images, mask or markup; None for a new image
    edit: EditInputs | None = None
    on_retry: RetryCallback = field(default=_no_retry_report, compare=False, repr=False)
    #: where an HTTP provider writes its answer as it arrives (see providers/answers.py); None: nowhere
    answer_path: Path | None = None


@dataclass
class RenderedImage:
    data: bytes
    revised_prompt: str | None = None


@dataclass
class RenderOutput:
    images: list[RenderedImage]
    usage: Usage | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BatchState:
    """Where a batch stands at the provider: its status, and whether it has ended."""

    status: str
    ended: bool


#: called with each request's answer in an ended batch: (its custom id, its images or the error that says
#: why there are none and whether it may have been billed)
AnswerCallback = Callable[[str, "RenderOutput | ImagegenError"], None]


class Provider(Protocol):
    name: str
    #: shown beside every result, so nobody mistakes an offline placeholder for a real render
    label: str

    def render(self, job: RenderJob, on_partial: PartialCallback) -> RenderOutput: ...

    def request_sent(self) -> bool:
        """Whether this thread's last render reached the provider at all: a failure before anything was
        sent cannot have been billed. Say True when unsure."""
        ...
