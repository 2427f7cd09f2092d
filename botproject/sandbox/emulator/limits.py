"""Discord's documented payload limits, checked the way Discord checks them.

Every check collects its failures into one errors object keyed by the field path, and the request fails
with 400 Invalid Form Body (50035) like Discord's, e.g.
``{"embeds": {"0": {"fields": {"3": {"value": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", ...}]}}}}}}``.
Interaction callbacks nest the same paths under ``data``.

Sources: Discord developer docs, "Message resource" (content, embed limits), "Component reference"
(action rows, buttons, selects, text inputs, labels, Components V2), "Receiving and responding"
(modal and autocomplete callbacks).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any

from .ids import ApiError, form_error, merge_errors

# ---- messages ---------------------------------------------------------------------------------
CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000  # title + description + field names/values + footer text + author name, over all embeds

# ---- components -------------------------------------------------------------------------------
ACTION_ROWS_MAX = 5
ROW_BUTTONS_MAX = 5
BUTTON_LABEL_MAX = 80
CUSTOM_ID_MAX = 100
URL_MAX = 512
SELECT_OPTIONS_MAX = 25
SELECT_VALUES_MAX = 25
SELECT_PLACEHOLDER_MAX = 150
OPTION_LABEL_MAX = 100
OPTION_VALUE_MAX = 100
OPTION_DESCRIPTION_MAX = 100
IS_COMPONENTS_V2 = 1 << 15
V2_COMPONENTS_MAX = 40
V2_TEXT_MAX = 4000

# ---- modals and autocomplete ------------------------------------------------------------------
MODAL_TITLE_MAX = 45
MODAL_COMPONENTS_MAX = 5
TEXT_INPUT_LABEL_MAX = 45
TEXT_INPUT_VALUE_MAX = 4000
TEXT_INPUT_PLACEHOLDER_MAX = 100
LABEL_DESCRIPTION_MAX = 100
CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_VALUE_MAX = 100

BUTTON, SELECT_TYPES, TEXT_INPUT, TEXT_DISPLAY, LABEL = 2, (3, 5, 6, 7, 8), 4, 10, 18
log = logging.getLogger("emulator.limits")


def record(kind: str, detail: str) -> None:
    """Log a limit the emulator enforced; with EMULATOR_LIMITS_LOG=<file> also append it there (suite audits)."""
    log.warning("%s: %s", kind, detail)
    path = os.environ.get("EMULATOR_LIMITS_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{os.environ.get('PYTEST_CURRENT_TEST', '?')}\t{kind}\t{detail}\n")


class FormErrors:
    """Collects Discord-shaped field errors under a path prefix; `raise_if_any` raises one 400 50035."""

    def __init__(self, prefix: tuple = ()):
        self.prefix = tuple(str(p) for p in prefix)
        self.errors: dict = {}

    def add(self, path: tuple, code: str, message: str) -> None:
        """Record one error at prefix + path (an empty path = the object itself)."""
        merge_errors(self.errors, form_error(self.prefix + tuple(str(p) for p in path), code, message))

    def required(self, path: tuple, value: Any) -> bool:
        """BASE_TYPE_REQUIRED when the value is missing or empty; True when present."""
        if value is None or value == "" or value == []:
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return False
        return True

    def max_length(self, path: tuple, value: Any, limit: int) -> None:
        """BASE_TYPE_MAX_LENGTH when a string or list is longer than `limit`."""
        if value is not None and _length(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def between(self, path: tuple, value: Any, low: int, high: int) -> None:
        """BASE_TYPE_BAD_LENGTH when a string or list is not between low and high long (missing = 0)."""
        if not low <= _length(value) <= high:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def number(self, path: tuple, value: Any, low: int, high: int) -> None:
        """NUMBER_TYPE_MIN / NUMBER_TYPE_MAX for an integer outside low..high (None = absent, fine)."""
        if value is None:
            return
        if int(value) < low:
            self.add(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}.")
        elif int(value) > high:
            self.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {high}.")

    def raise_if_any(self) -> None:
        """Raise 400 Invalid Form Body with every collected error."""
        if self.errors:
            record("50035", json.dumps(self.errors)[:2000])
            raise ApiError(400, 50035, "Invalid Form Body", self.errors)


def _length(value: Any) -> int:
    """Length of a string or list (other values count as their str())."""
    if value is None:
        return 0
    return len(value) if isinstance(value, (str, list, tuple, dict)) else len(str(value))


# ---- messages ---------------------------------------------------------------------------------
def check_message(body: dict, prefix: tuple = (), flags: int = 0) -> None:
    """Content, embeds and components of a message create/edit body (only the keys present)."""
    errors = FormErrors(prefix)
    if body.get("content") is not None:
        errors.max_length(("content",), str(body["content"]), CONTENT_MAX)
    if body.get("embeds"):
        _check_embeds(errors, body["embeds"])
    if body.get("components"):
        if body.get("flags") is not None:
            flags = int(body["flags"])
        _check_components(errors, body["components"], bool(flags & IS_COMPONENTS_V2))
    errors.raise_if_any()


def embed_length(embed: dict) -> int:
    """The characters Discord counts towards the 6,000 over all embeds of a message."""
    total = _length(embed.get("title")) + _length(embed.get("description"))
    fields = [f for f in embed.get("fields") or [] if isinstance(f, dict)]
    total += sum(_length(f.get("name")) + _length(f.get("value")) for f in fields)
    total += _length((embed.get("footer") or {}).get("text")) + _length((embed.get("author") or {}).get("name"))
    return total


def _check_embeds(errors: FormErrors, embeds: list) -> None:
    """≤ 10 embeds, each within its field limits, and 6,000 characters over all of them."""
    errors.max_length(("embeds",), embeds, EMBEDS_MAX)
    for i, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            errors.add(("embeds", i), "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        where = ("embeds", i)
        errors.max_length((*where, "title"), embed.get("title"), EMBED_TITLE_MAX)
        errors.max_length((*where, "description"), embed.get("description"), EMBED_DESCRIPTION_MAX)
        fields = embed.get("fields") or []
        errors.max_length((*where, "fields"), fields, EMBED_FIELDS_MAX)
        for j, fld in enumerate(fields):
            if errors.required((*where, "fields", j, "name"), fld.get("name")):
                errors.max_length((*where, "fields", j, "name"), fld["name"], EMBED_FIELD_NAME_MAX)
            if errors.required((*where, "fields", j, "value"), fld.get("value")):
                errors.max_length((*where, "fields", j, "value"), fld["value"], EMBED_FIELD_VALUE_MAX)
        if embed.get("footer"):
            errors.max_length((*where, "footer", "text"), embed["footer"].get("text"), EMBED_FOOTER_MAX)
        if embed.get("author"):
            errors.max_length((*where, "author", "name"), embed["author"].get("name"), EMBED_AUTHOR_MAX)
    if sum(embed_length(e) for e in embeds if isinstance(e, dict)) > EMBED_TOTAL_MAX:
        errors.add(("embeds",), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}")


# ---- components -------------------------------------------------------------------------------
def _check_components(errors: FormErrors, components: list, v2: bool) -> None:
    """Classic layout: ≤ 5 action rows; Components V2: ≤ 40 components and 4,000 characters of text."""
    if v2:
        flat = list(_walk(components))
        if len(flat) > V2_COMPONENTS_MAX:
            errors.add(("components",), "MAX_COMPONENTS_EXCEEDED",
                       f"Must be {V2_COMPONENTS_MAX} or fewer in total components.")
        text = sum(_length(c.get("content")) for c in flat if c.get("type") == TEXT_DISPLAY)
        if text > V2_TEXT_MAX:
            errors.add(("components",), "MAX_TEXT_DISPLAY_EXCEEDED",
                       f"Text display content must be {V2_TEXT_MAX} or fewer in length in total.")
    else:
        errors.max_length(("components",), components, ACTION_ROWS_MAX)
    for i, comp in enumerate(components):
        _check_component(errors, ("components", i), comp)


def _walk(components: list):
    """Every component, nested ones included (rows, containers, sections' accessories, labels)."""
    for comp in components or []:
        if not isinstance(comp, dict):
            continue
        yield comp
        yield from _walk(comp.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(comp.get(key), dict):
                yield from _walk([comp[key]])


def _check_component(errors: FormErrors, where: tuple, comp: dict) -> None:
    """One component at `where` and what it contains."""
    kind = comp.get("type")
    if kind == 1:
        _check_row(errors, where, comp.get("components") or [])
    elif kind == BUTTON:
        errors.max_length((*where, "label"), comp.get("label"), BUTTON_LABEL_MAX)
        if comp.get("style") == 5:
            errors.max_length((*where, "url"), comp.get("url"), URL_MAX)
        elif comp.get("style") != 6:
            _check_custom_id(errors, where, comp)
    elif kind in SELECT_TYPES:
        _check_select(errors, where, comp)
    elif kind == TEXT_INPUT:
        _check_text_input(errors, where, comp, in_label=False)
    for key in ("components",) if kind != 1 else ():
        for i, child in enumerate(comp.get(key) or []):
            _check_component(errors, (*where, key, i), child)
    for key in ("accessory", "component"):
        if isinstance(comp.get(key), dict):
            _check_component(errors, (*where, key), comp[key])


def _check_row(errors: FormErrors, where: tuple, children: list) -> None:
    """An action row: 1..5 buttons, or one select alone (it takes the whole width)."""
    if not children:
        errors.between((*where, "components"), children, 1, ROW_BUTTONS_MAX)
        return
    selects = [c for c in children if c.get("type") in SELECT_TYPES]
    allowed = 1 if selects else ROW_BUTTONS_MAX
    for i, child in enumerate(children):
        if i >= allowed:
            errors.add((*where, "components", i), "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                       "The specified component exceeds the maximum width")
        _check_component(errors, (*where, "components", i), child)


def _check_custom_id(errors: FormErrors, where: tuple, comp: dict) -> None:
    """custom_id: required, at most 100 characters."""
    if errors.required((*where, "custom_id"), comp.get("custom_id")):
        errors.max_length((*where, "custom_id"), comp["custom_id"], CUSTOM_ID_MAX)


def _check_select(errors: FormErrors, where: tuple, comp: dict) -> None:
    """A select: custom_id, placeholder, min/max values, and (string select) 1..25 options of ≤ 100 characters."""
    _check_custom_id(errors, where, comp)
    errors.max_length((*where, "placeholder"), comp.get("placeholder"), SELECT_PLACEHOLDER_MAX)
    errors.number((*where, "min_values"), comp.get("min_values"), 0, SELECT_VALUES_MAX)
    errors.number((*where, "max_values"), comp.get("max_values"), 1, SELECT_VALUES_MAX)
    if comp.get("type") != 3:
        return
    options = comp.get("options") or []
    errors.between((*where, "options"), options, 1, SELECT_OPTIONS_MAX)
    for i, opt in enumerate(options):
        at = (*where, "options", i)
        if errors.required((*at, "label"), opt.get("label")):
            errors.max_length((*at, "label"), opt["label"], OPTION_LABEL_MAX)
        if errors.required((*at, "value"), opt.get("value")):
            errors.max_length((*at, "value"), opt["value"], OPTION_VALUE_MAX)
        errors.max_length((*at, "description"), opt.get("description"), OPTION_DESCRIPTION_MAX)


def _check_text_input(errors: FormErrors, where: tuple, comp: dict, in_label: bool) -> None:
    """A text input: label 1..45 (unless a Label carries it), value ≤ 4,000, lengths within 0..4,000."""
    _check_custom_id(errors, where, comp)
    if not in_label:
        errors.between((*where, "label"), comp.get("label"), 1, TEXT_INPUT_LABEL_MAX)
    errors.max_length((*where, "placeholder"), comp.get("placeholder"), TEXT_INPUT_PLACEHOLDER_MAX)
    errors.max_length((*where, "value"), comp.get("value"), TEXT_INPUT_VALUE_MAX)
    errors.number((*where, "min_length"), comp.get("min_length"), 0, TEXT_INPUT_VALUE_MAX)
    errors.number((*where, "max_length"), comp.get("max_length"), 1, TEXT_INPUT_VALUE_MAX)


# ---- interaction callbacks --------------------------------------------------------------------
def check_modal(data: dict, prefix: tuple = ("data",)) -> None:
    """A type-9 callback: custom_id, title 1..45, 1..5 components (rows of one text input, Labels, text)."""
    errors = FormErrors(prefix)
    _check_custom_id(errors, (), data)
    errors.between(("title",), data.get("title"), 1, MODAL_TITLE_MAX)
    components = data.get("components") or []
    errors.between(("components",), components, 1, MODAL_COMPONENTS_MAX)
    for i, comp in enumerate(components):
        where, kind = ("components", i), comp.get("type")
        if kind == 1:
            children = comp.get("components") or []
            errors.between((*where, "components"), children, 1, 1)
            for j, child in enumerate(children):
                if child.get("type") == TEXT_INPUT:
                    _check_text_input(errors, (*where, "components", j), child, in_label=False)
                else:
                    _check_component(errors, (*where, "components", j), child)
        elif kind == LABEL:
            errors.between((*where, "label"), comp.get("label"), 1, TEXT_INPUT_LABEL_MAX)
            errors.max_length((*where, "description"), comp.get("description"), LABEL_DESCRIPTION_MAX)
            inner = comp.get("component")
            if errors.required((*where, "component"), inner):
                if inner.get("type") == TEXT_INPUT:
                    _check_text_input(errors, (*where, "component"), inner, in_label=True)
                else:
                    _check_component(errors, (*where, "component"), inner)
        elif kind == TEXT_DISPLAY:
            errors.max_length((*where, "content"), comp.get("content"), V2_TEXT_MAX)
    errors.raise_if_any()


def check_choices(data: dict, prefix: tuple = ("data",)) -> None:
    """A type-8 autocomplete callback: ≤ 25 choices, names 1..100, string values ≤ 100."""
    errors = FormErrors(prefix)
    choices = data.get("choices") or []
    errors.max_length(("choices",), choices, CHOICES_MAX)
    for i, choice in enumerate(choices):
        errors.between(("choices", i, "name"), choice.get("name"), 1, CHOICE_NAME_MAX)
        if isinstance(choice.get("value"), str):
            errors.max_length(("choices", i, "value"), choice["value"], CHOICE_VALUE_MAX)
    errors.raise_if_any()
