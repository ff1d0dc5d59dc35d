"""What an edit starts from: the starting image, reference images, and a mask or a markup. All of it is
checked before anything is spent, named by its content (so the same edit asked twice is one request), and
kept beside the images it made once they are paid for: an image's lineage."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from imagegen.catalog import Catalog, ModelSpec
from imagegen.errors import InvalidRequest
from imagegen.masks import check_markup, check_mask
from imagegen.request import CONTENT_TYPES, GenerationRequest
from imagegen.uploads import Upload, check_upload

#: the roles an input plays, as records and the CLI name them
STARTING, REFERENCE, MASK, MARKUP = "image", "reference", "mask", "markup"
_MANIFEST = "inputs.json"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


@dataclass(frozen=True)
class InputFile:
    """One input as it is kept: its file name beside the images, its role, and its bytes."""

    name: str
    role: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class EditInputs:
    """The images an edit sends (the starting image first), and its mask or markup (PNG bytes)."""

    images: tuple[Upload, ...]
    mask: bytes | None = None
    markup: bytes | None = None
    #: the gallery image the edit starts from, when it starts from one
    parent_key: str = ""

    @property
    def first(self) -> Upload:
        return self.images[0]

    @property
    def digests(self) -> tuple[str, ...]:
        return tuple(digest(image.data) for image in self.images)

    def applied_to(self, request: GenerationRequest) -> GenerationRequest:
        """The request naming what this edit sends, by content: the same edit asked twice is one request,
        and another mask or reference is another."""
        return replace(
            request,
            inputs=self.digests,
            mask=digest(self.mask) if self.mask is not None else "",
            markup=digest(self.markup) if self.markup is not None else "",
            edit_of=self.parent_key,
        )

    def priced_sizes(self, *, bound: bool = False) -> list[tuple[int, int]]:
        """The sizes of the images billed as input tokens (the starting image first): every image sent and
        the markup; the mask too when bounding, in case it is counted."""
        sizes = [(image.width, image.height) for image in self.images]
        size = (self.first.width, self.first.height)
        if self.markup is not None or (bound and self.mask is not None):
            sizes.append(size)
        return sizes

    def files(self) -> list[InputFile]:
        kept = [
            InputFile(
                f"input-{i}.{image.format}", STARTING if i == 0 else REFERENCE, CONTENT_TYPES[image.format], image.data
            )
            for i, image in enumerate(self.images)
        ]
        if self.mask is not None:
            kept.append(InputFile("mask.png", MASK, "image/png", self.mask))
        if self.markup is not None:
            kept.append(InputFile("markup.png", MARKUP, "image/png", self.markup))
        return kept

    def save(self, folder: Path) -> None:
        """Write the inputs to a folder (a queued job's), to be read back by `load`."""
        folder.mkdir(parents=True, exist_ok=True)
        manifest = []
        for item in self.files():
            (folder / item.name).write_bytes(item.data)
            manifest.append({"name": item.name, "role": item.role})
        (folder / _MANIFEST).write_text(json.dumps({"parent_key": self.parent_key, "files": manifest}))

    @classmethod
    def load(cls, folder: Path) -> EditInputs:
        manifest = json.loads((folder / _MANIFEST).read_text())
        images: list[Upload] = []
        mask = markup = None
        for item in manifest["files"]:
            data = (folder / item["name"]).read_bytes()
            if item["role"] == MASK:
                mask = data
            elif item["role"] == MARKUP:
                markup = data
            else:
                images.append(kept_upload(data))
        return cls(tuple(images), mask, markup, manifest.get("parent_key", ""))


def prepare_edit(
    images: Sequence[bytes | Upload],
    *,
    mask: bytes | None = None,
    markup: bytes | None = None,
    parent_key: str = "",
) -> EditInputs:
    """Check what an edit sends: every image by its content, the mask or the markup against the starting
    image. Raises InvalidRequest, saying what to change, before anything is spent."""
    if not images:
        raise InvalidRequest("An edit needs a starting image: choose one from the gallery or upload one.")
    if mask is not None and markup is not None:
        raise InvalidRequest("Use a mask or a markup, not both: the image service takes one or the other.")
    checked = tuple(
        image if isinstance(image, Upload) else check_upload(image, _name(i)) for i, image in enumerate(images)
    )
    size = (checked[0].width, checked[0].height)
    return EditInputs(
        checked,
        mask=check_mask(mask, size) if mask is not None else None,
        markup=check_markup(markup, size) if markup is not None else None,
        parent_key=parent_key,
    )


def check_edit(
    catalog: Catalog, usable: list[ModelSpec], spec: ModelSpec, request: GenerationRequest, edit: EditInputs
) -> list[str]:
    """Refuse an edit the model cannot make, saying what to change (among the `usable` models of this
    deployment); warn about what the estimate leaves out."""
    if not spec.edits:
        editors = [m.label for m in usable if m.edits]
        instead = f": choose {' or '.join(editors[:3])}" if editors else ""
        raise InvalidRequest(f"{spec.label} cannot edit images{instead}.")
    if len(edit.images) > spec.edit_inputs:
        extra = len(edit.images) - spec.edit_inputs
        raise InvalidRequest(
            f"{spec.label} takes at most {spec.edit_inputs} images in an edit: remove {extra} reference image(s)."
        )
    if edit.markup is not None and not spec.markup:
        markers = [m.label for m in usable if m.markup]
        instead = f" Use {' or '.join(markers[:2])}, or paint a mask instead." if markers else " Paint a mask instead."
        raise InvalidRequest(f"{spec.label} does not take a markup drawing.{instead}")
    fidelity = request.input_fidelity
    if fidelity and fidelity not in spec.input_fidelity:
        if not spec.input_fidelity:
            raise InvalidRequest(f"{spec.label} has no input fidelity setting: leave it on the default.")
        raise InvalidRequest(f"{spec.label} takes input fidelity {' or '.join(spec.input_fidelity)}, not {fidelity!r}.")
    rate, estimated = catalog.rate(spec, "image_in")
    if spec.family != "offline" and estimated:
        return [
            f"The catalog has no published price for {spec.label}'s input images: they are priced at "
            f"${rate:g} per million tokens, the highest of its family, and the charge is marked as an estimate."
        ]
    return []


def kept_upload(data: bytes) -> Upload:
    """An input this studio checked and wrote itself, read back byte for byte (its digest names it)."""
    with Image.open(io.BytesIO(data)) as image:
        return Upload(data, str(image.format).lower(), image.width, image.height)


def _name(index: int) -> str:
    return "The starting image" if index == 0 else f"Reference image {index}"


def closest_size(choices: Sequence[str], width: int, height: int) -> str:
    """Of the sizes a model makes, the one closest to an image's shape (then to its size): an edit keeps
    the shape of the image it starts from unless the user asks otherwise."""
    fixed = [c for c in choices if "x" in c]
    if not fixed:
        return "auto"
    aspect = width / height

    def distance(size: str) -> tuple[float, float]:
        w, h = (int(v) for v in size.split("x"))
        return (abs(w / h - aspect), abs(w * h - width * height))

    return min(fixed, key=distance)


def decode_input(upload: Upload) -> Image.Image:
    """An input decoded (it passed the checks already)."""
    return Image.open(io.BytesIO(upload.data))
