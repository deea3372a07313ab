"""Forms that show each refusal beside its field, shared by the report form and the visit form.

A posted text is read whole (never cut: a value over its limit is refused with a message saying by how much), with
the browser's CRLF line breaks made LF so that the server counts characters as the page's counter and ``maxlength``
do. The messages for a missing or over-long value come from the catalogue; the same texts are written into the page
(``partials/form_kit.html``) for ``static/forms.js``, which shows them before anything is sent. A refusal raised by a
service is placed beside the field its code is about, or above the form when it is about none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request

from zhili.core.errors import DomainError
from zhili.web import messages_forms  # noqa: F401  (registers the UI text)
from zhili.web.render import tr

# Refusals about a photo upload, whichever form it came with (codes of zhili.cases.files and the forms).
PHOTO_REFUSALS = ("too_many_photos", "photo_not_an_image", "unsupported_file_type", "file_too_large", "empty_file",
                  "bad_image")


@dataclass(frozen=True)
class TextField:
    """A free-text field of a form: its name, the catalogue id of its label, its limit and whether it is required."""

    name: str
    label_key: str
    max: int
    required: bool = False


def form_text(form: FormData, name: str) -> str:
    """A posted text field, stripped, line breaks as LF, never cut ('' when absent or a file)."""
    value = form.get(name)
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else ""


def too_long(request: Request, field: TextField, length: int) -> str:
    return tr(request, "formcheck.too_long", label=tr(request, field.label_key), max=field.max, n=length,
              over=length - field.max)


def check_texts(request: Request, values: Mapping[str, object], fields: Iterable[TextField]) -> dict[str, str]:
    """The message for each text field that is required and empty, or longer than its limit (by field name)."""
    errors: dict[str, str] = {}
    for f in fields:
        value = str(values.get(f.name) or "")
        if f.required and not value:
            errors[f.name] = tr(request, "formcheck.required", label=tr(request, f.label_key))
        elif len(value) > f.max:
            errors[f.name] = too_long(request, f, len(value))
    return errors


def placed(exc: DomainError, fields: Mapping[str, str]) -> tuple[dict[str, str], str | None, int]:
    """Where a service's refusal is shown: (field errors, the message above the form, status). ``fields`` maps a
    refusal code to the field it is about; such a refusal is a mistake in the form (422) shown beside it."""
    field = fields.get(exc.code) or ("photos" if exc.code in PHOTO_REFUSALS else None)
    if field is None:
        return {}, exc.message, exc.status
    return {field: exc.message}, None, 422
