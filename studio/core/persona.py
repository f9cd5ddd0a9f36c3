"""The persona record: defaults, validation, JSON, field paths, diffs and prompt composition.

A record is a plain dict shaped by `resources/persona.schema.json`. Field paths are written
like `face.hair.colour` or `wardrobe.outfits[0].garments[1].colour`; `$` is the whole record.

A record holds only what the artist said: a field nobody gave is left out (never null, never a
made-up default), and every placeholder below skips what is unset. An empty list or group reads
the same as an absent one.

Prompt templates use `{placeholder}` tokens. In the positive template:

- `{trigger}`: the trigger token.
- `{name}`: the persona's name.
- `{age}`: the apparent age, "30 years old" or "28-34 years old".
- `{face}`: eye colour, face shape, jaw, nose, brows, lips and skin tone.
- `{hair}`: hair colour name, length and style.
- `{marks}`: each distinguishing mark with its placement, its description read as words
  before it ("light freckles across the nose"), a clause of it after ("dimple on both cheeks
  when smiling").
- `{outfit}`: the chosen outfit (else the default one; none when no default is set): garments
  as colour word, material and item, then accessories, then the subjects of `always` rules
  not already worn, then the subject of each `only-with` rule whose object is worn.
- `{lighting}`: the shot's one lighting setup (else the first allowed one), key light
  direction, colour temperature in words ("warm 3200K light"), contrast and mood.
- `{posture}`: the default stance, head tilt (positive degrees tilt to the right) and the
  first expression of the expression range.
- `{style}`: medium, lens, aperture and camera.
- `{action}`: the shot's action text; appended at the end when the template lacks it.

A free-text field that does not name its noun gets it where English puts it: before the first
preposition, "with", participle clause or comma ("full lips with a wide smile").

In the negative template:

- `{negative_traits}`: the record's negative traits.
- `{wardrobe_never}`: the subjects of `never` wardrobe rules.

Both are appended when the negative template lacks them, so they always reach the prompt.
A template phrase (text between commas) whose placeholders are all empty is dropped whole, so
"wearing {outfit}" leaves nothing behind when no outfit is set. After substitution a prompt is
split on commas; empty phrases and case-insensitive repeats are dropped (the first is kept)
and whitespace is collapsed.

Prompts are written for the text encoder that reads them: Stable Diffusion's CLIP reads 75
tokens per window. Each phrase ranks by the placeholder it came from (`PROMPT_PRIORITY`: who
the persona is and the shot's action first, then the outfit, then lighting, posture and style;
a template phrase without placeholders ranks with the style). With a token budget, the
lowest-ranked phrases go first (the last of equals first) until the positive prompt fits; the
trigger token always stays. The negative prompt is counted but never cut: cutting it would
quietly allow a trait the artist ruled out. Tokens are counted by the counter the caller passes
(the real CLIP tokenizer lives in the engine); without one, `estimate_tokens` over-counts on
purpose and the prompt says it is an estimate.

A record whose negative prompt rules out what its positive prompt asks for ("blue" eyes and a
negative trait "blue eyes", a garment that a `never` rule names) is not valid: validation
names both fields.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from studio.core.colours import colour_name
from studio.core.errors import InvalidRecordError, NotFoundError, StudioError
from studio.core.resources import load_json
from studio.core.text import plural

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SCHEMA_VERSION = 1

POSITIVE_PLACEHOLDERS: tuple[str, ...] = (
    "trigger",
    "name",
    "age",
    "face",
    "hair",
    "marks",
    "outfit",
    "lighting",
    "posture",
    "style",
    "action",
)
NEGATIVE_PLACEHOLDERS: tuple[str, ...] = ("negative_traits", "wardrobe_never")

TRIGGER_PREFIX = "ohwx_"

# Two CLIP windows of 75 tokens: what a render encodes by default.
DEFAULT_TOKEN_BUDGET = 150

# Phrases in the order they matter; a tight token budget drops them from the end.
PROMPT_PRIORITY: tuple[str, ...] = (
    "trigger",
    "name",
    "action",  # the shot itself: what she does there is never traded for an accessory
    "age",
    "face",
    "hair",
    "marks",
    "outfit",
    "lighting",
    "posture",
    "style",
)
DEFAULT_POSITIVE_TEMPLATE = (
    "{trigger}, portrait of {name}, {action}, {age}, {face}, {hair}, {marks}, "
    "wearing {outfit}, {lighting}, {posture}, {style}"
)
DEFAULT_NEGATIVE_TEMPLATE = "{negative_traits}, {wardrobe_never}"

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH_TOKEN = re.compile(r'\.([^.\[\]"]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')

# Friendly messages for the schema's patterns, keyed by the pattern text.
_PATTERN_MESSAGES = {
    "^#[0-9a-fA-F]{6}$": "is not a colour like #a1b2c3",
    "^[a-z0-9_]{3,32}$": "is not a trigger token: use 3 to 32 lower-case letters, digits or _",
    "^f/[0-9]+(\\.[0-9])?$": "is not an aperture like f/2.8",
}
_TYPE_WORDS = {
    "object": "a group of fields",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


@dataclass(frozen=True)
class RecordIssue:
    """One problem with a record: where (a field path) and what."""

    path: str
    message: str


@dataclass(frozen=True)
class FieldChange:
    """One leaf that differs between two records."""

    path: str
    kind: str  # 'added' | 'removed' | 'changed'
    old: Any
    new: Any


@dataclass(frozen=True)
class Prompt:
    """A composed positive and negative prompt, with their token counts.

    tokens, negative_tokens: the text encoder's tokens, without its start and end tokens.
    dropped: the positive phrases the token budget left out, the first dropped first.
    estimated: the counts are `estimate_tokens`' (no tokenizer was given), not exact.
    budget: the token budget the positive prompt was fitted to; None when there was none.
    lighting_setup: the one lighting setup the prompt describes; None when none is allowed.
    """

    positive: str
    negative: str
    tokens: int = 0
    negative_tokens: int = 0
    dropped: tuple[str, ...] = ()
    estimated: bool = False
    budget: int | None = None
    lighting_setup: str | None = None


# --------------------------------------------------------------------------- schema


def schema() -> dict:
    """A copy of the persona record's JSON Schema."""
    return copy.deepcopy(_schema())


def _schema() -> dict:
    return load_json("persona.schema.json")


@cache
def _validator() -> Draft202012Validator:
    # jsonschema loads on first validation, not at import: the CLI starts faster.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema())


def _resolve(sub: dict) -> dict:
    """Follow a local `$ref`; the record schema only refers into its own `$defs`."""
    while isinstance(sub, dict) and "$ref" in sub:
        ref = sub["$ref"]
        target: Any = _schema()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        sub = {**target, **{k: v for k, v in sub.items() if k != "$ref"}}
    return sub


def _child_schema(sub: dict | None, key: str | int) -> dict | None:
    if not isinstance(sub, dict):
        return None
    sub = _resolve(sub)
    if isinstance(key, int):
        items = sub.get("items")
        return items if isinstance(items, dict) else None
    return sub.get("properties", {}).get(key)


# --------------------------------------------------------------------------- paths


def parse_path(path: str) -> list[str | int]:
    """The keys and indices of a field path; `$` (or "") is the whole record."""
    text = path.strip().removeprefix("$")
    if text and not text.startswith((".", "[")):
        text = "." + text
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _PATH_TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"{path!r} is not a field path like face.hair.colour or a.b[2].c")
        key, index, quoted = m.groups()
        if key is not None:
            parts.append(key)
        elif index is not None:
            parts.append(int(index))
        else:
            parts.append(json.loads(quoted))
        pos = m.end()
    return parts


def format_path(parts: list[str | int] | tuple[str | int, ...]) -> str:
    """The field path of a sequence of keys and indices; `$` when empty."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _BARE_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out or "$"


_MISSING: Any = object()


def _step(node: Any, part: str | int, path: str) -> Any:
    if isinstance(part, int):
        if not isinstance(node, list):
            raise KeyError(f"{path}: [{part}] needs a list, found {_type_word(node)}")
        if part >= len(node):
            raise IndexError(f"{path}: there is no item [{part}] in a list of {len(node)}")
        return node[part]
    if not isinstance(node, dict):
        raise KeyError(f"{path}: '{part}' needs a group of fields, found {_type_word(node)}")
    if part not in node:
        raise KeyError(f"{path}: there is no field '{part}'")
    return node[part]


def get_path(record: Any, path: str, default: Any = _MISSING) -> Any:
    """The value at a field path; `default` (when given) instead of KeyError/IndexError."""
    node = record
    try:
        for part in parse_path(path):
            node = _step(node, part, path)
    except (KeyError, IndexError):
        if default is _MISSING:
            raise
        return default
    return node


def set_path(record: dict, path: str, value: Any, *, create: bool = False) -> dict:
    """A deep copy of record with the field at path set; `[n]` with n == len appends.

    create: make the groups and lists on the way that are not there yet (an unset section).
    """
    parts = parse_path(path)
    if not parts:
        return copy.deepcopy(value)
    new = copy.deepcopy(record)
    parent = new
    for part, after in zip(parts[:-1], parts[1:], strict=True):
        if create and isinstance(part, str) and isinstance(parent, dict) and part not in parent:
            parent[part] = [] if isinstance(after, int) else {}
        elif create and isinstance(part, int) and isinstance(parent, list) and part == len(parent):
            parent.append([] if isinstance(after, int) else {})
        parent = _step(parent, part, path)
    last = parts[-1]
    value = copy.deepcopy(value)
    if isinstance(last, int):
        if not isinstance(parent, list):
            raise KeyError(f"{path}: [{last}] needs a list, found {_type_word(parent)}")
        if last == len(parent):
            parent.append(value)
        elif last < len(parent):
            parent[last] = value
        else:
            raise IndexError(f"{path}: cannot set [{last}] in a list of {len(parent)}")
    else:
        if not isinstance(parent, dict):
            raise KeyError(f"{path}: '{last}' needs a group of fields, found {_type_word(parent)}")
        parent[last] = value
    return new


def delete_path(record: dict, path: str) -> dict:
    """A deep copy of record without the dict key or list item at path."""
    parts = parse_path(path)
    if not parts:
        raise KeyError("$: the whole record cannot be deleted")
    new = copy.deepcopy(record)
    parent = new
    for part in parts[:-1]:
        parent = _step(parent, part, path)
    last = parts[-1]
    _step(parent, last, path)
    del parent[last]
    return new


def unset_path(record: dict, path: str) -> dict:
    """A deep copy of record with the field at path left unset.

    The key or list item goes, and so does each group or list it leaves empty unless the
    schema requires it, so setting a field and clearing it again gives back the same record.
    A field that is already unset is left alone.
    """
    parts = parse_path(path)
    absent = object()
    if get_path(record, path, absent) is absent:
        return copy.deepcopy(record)
    new = delete_path(record, path)
    while len(parts) > 1:
        parts.pop()
        last = parts[-1]
        container = get_path(new, format_path(parts))
        if container or not isinstance(last, str) or last in _required_at(parts[:-1]):
            break  # not empty, a list item the artist made, or required where it is
        new = delete_path(new, format_path(parts))
    return new


def _required_at(parts: list[str | int]) -> list[str]:
    """The fields the schema requires in the group at parts."""
    sub: dict | None = _schema()
    for part in parts:
        sub = _child_schema(sub, part)
    return _resolve(sub).get("required", []) if isinstance(sub, dict) else []


# --------------------------------------------------------------------------- defaults


def _trigger_from_name(name: str) -> str:
    # Accents fold to their base letter so "Zoë" gives "zoe", not "zo".
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]", "", ascii_name.lower())
    if not slug:
        # Names with no Latin letters still need a distinct, stable token.
        slug = "p" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]
    return TRIGGER_PREFIX + slug[: 32 - len(TRIGGER_PREFIX)]


def _seed_from_name(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big")


def default_record(name: str, trigger_token: str | None = None) -> dict:
    """The record of a new persona called name: who it is, and nothing nobody said.

    Face, wardrobe, lighting, posture, style and negative traits stay unset until the artist
    gives them; only the name, trigger token and seed base (which identify the persona and
    its renders) and the prompt templates are filled in.
    """
    name = name.strip()
    record = {
        "schema_version": SCHEMA_VERSION,
        "identity": {
            "name": name,
            "trigger_token": trigger_token
            if trigger_token is not None
            else _trigger_from_name(name),
            "seed_base": _seed_from_name(name),
        },
        "prompt_template": {
            "positive": DEFAULT_POSITIVE_TEMPLATE,
            "negative": DEFAULT_NEGATIVE_TEMPLATE,
        },
    }
    return check_record(record, source=f"the new persona '{name}'")


# --------------------------------------------------------------------------- validation


def _show(value: Any) -> str:
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, dict):
        return "a group of fields"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    return "nothing" if value is None else type(value).__name__


def _issues_from_error(error: Any) -> list[RecordIssue]:
    """Readable issues for one jsonschema error; a few kinds name the field itself."""
    parts = list(error.absolute_path)
    path = format_path(parts)
    kind, expected, value = error.validator, error.validator_value, error.instance
    if value is None and kind in ("type", "enum", "const", "pattern"):
        # An unset field is left out of the record; null is not a second way to say it.
        return [RecordIssue(path, "is null; leave the field out to leave it unset")]
    if kind == "required":
        missing = [p for p in expected if isinstance(value, dict) and p not in value]
        return [RecordIssue(format_path([*parts, p]), "is missing") for p in missing]
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = [k for k in value if k not in known] if isinstance(value, dict) else []
        return [
            RecordIssue(format_path([*parts, k]), f"'{k}' is not a field here; remove it")
            for k in extra
        ]
    if kind == "enum":
        message = f"{_show(value)} is not one of: {', '.join(str(v) for v in expected)}"
    elif kind == "pattern" and expected == "\\S":
        # An empty value already gets "must not be empty" from minLength.
        return [RecordIssue(path, "must not be blank")] if value else []
    elif kind == "pattern":
        message = f"{_show(value)} {_PATTERN_MESSAGES.get(expected, 'has the wrong form')}"
    elif kind == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in wanted)
        message = f"expected {words}, got {_type_word(value)} {_show(value)}"
    elif kind == "const":
        if parts == ["schema_version"] and isinstance(value, int) and value > expected:
            message = (
                f"version {value} records come from a newer Persona Studio; "
                f"this one reads version {expected}"
            )
        else:
            message = f"must be {_show(expected)}, not {_show(value)}"
    elif kind == "minimum":
        message = f"must be at least {expected} (is {_show(value)})"
    elif kind == "maximum":
        message = f"must be at most {expected} (is {_show(value)})"
    elif kind == "exclusiveMinimum":
        message = f"must be more than {expected} (is {_show(value)})"
    elif kind == "exclusiveMaximum":
        message = f"must be less than {expected} (is {_show(value)})"
    elif kind == "minLength":
        message = (
            "must not be empty"
            if expected == 1
            else f"must be at least {plural(expected, 'character')} long"
        )
    elif kind == "maxLength":
        message = f"must be at most {plural(expected, 'character')} long (is {len(value)})"
    elif kind == "minItems":
        message = "needs at least one item" if expected == 1 else f"needs at least {expected} items"
    elif kind == "maxItems":
        message = f"may have at most {plural(expected, 'item')} (has {len(value)})"
    elif kind == "uniqueItems":
        seen: list[Any] = []
        repeats: list[Any] = []
        for item in value:
            if item in seen and item not in repeats:
                repeats.append(item)
            seen.append(item)
        message = f"lists {', '.join(_show(r) for r in repeats)} more than once"
    else:
        message = error.message
    return [RecordIssue(path, message)]


def _semantic_issues(record: Any) -> list[RecordIssue]:
    """Checks the schema cannot express; each runs only where the shape is right."""
    issues: list[RecordIssue] = []
    if not isinstance(record, dict):
        return issues
    wardrobe = record.get("wardrobe")
    if isinstance(wardrobe, dict) and isinstance(wardrobe.get("outfits", []), list):
        names: dict[str, int] = {}
        outfits = wardrobe.get("outfits", [])
        for i, outfit in enumerate(outfits):
            name = outfit.get("name") if isinstance(outfit, dict) else None
            if not isinstance(name, str) or not name.strip():
                continue
            key = _norm(name)
            if key in names:
                issues.append(
                    RecordIssue(
                        f"wardrobe.outfits[{i}].name",
                        f"outfit [{names[key]}] is already called '{name}'; names must differ",
                    )
                )
            else:
                names[key] = i
        default = wardrobe.get("default_outfit")
        known = [o["name"] for o in outfits if isinstance(o, dict) and "name" in o]
        if isinstance(default, str) and default and default not in known:
            listed = ", ".join(f"'{n}'" for n in known) or "none yet"
            issues.append(
                RecordIssue(
                    "wardrobe.default_outfit",
                    f"'{default}' is not one of the outfits ({listed})",
                )
            )
    face = record.get("face")
    age = face.get("apparent_age") if isinstance(face, dict) else None
    if isinstance(age, dict):
        lo, hi = age.get("min"), age.get("max")
        if _is_int(lo) and _is_int(hi) and lo > hi:
            issues.append(
                RecordIssue(
                    "face.apparent_age.min", f"{lo} is more than the upper age {hi}; swap them"
                )
            )
    template = record.get("prompt_template")
    if isinstance(template, dict):
        for field, allowed, other in (
            ("positive", POSITIVE_PLACEHOLDERS, NEGATIVE_PLACEHOLDERS),
            ("negative", NEGATIVE_PLACEHOLDERS, POSITIVE_PLACEHOLDERS),
        ):
            text = template.get(field)
            if isinstance(text, str):
                issues.extend(_placeholder_issues(f"prompt_template.{field}", text, allowed, other))
    issues.extend(_contradiction_issues(record))
    return issues


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _placeholder_issues(
    path: str, text: str, allowed: tuple[str, ...], other: tuple[str, ...]
) -> list[RecordIssue]:
    issues = []
    reported: set[str] = set()
    for name in _PLACEHOLDER.findall(text):
        if name in allowed or name in reported:
            continue
        reported.add(name)
        field = path.rsplit(".", 1)[1]
        if name in other:
            where = "negative" if field == "positive" else "positive"
            message = f"'{{{name}}}' belongs in the {where} template"
        else:
            close = difflib.get_close_matches(name.strip().lower(), allowed, n=1)
            known = ", ".join(f"{{{p}}}" for p in allowed)
            message = f"'{{{name}}}' is not a known placeholder; use one of: {known}"
            if close:
                message = f"'{{{name}}}' is not a known placeholder; did you mean {{{close[0]}}}?"
        issues.append(RecordIssue(path, message))
    return issues


def _sort_key(issue: RecordIssue) -> tuple:
    """Issues sort in the schema's field order, so a form lists them top to bottom."""
    try:
        parts = parse_path(issue.path)
    except ValueError:
        return ((), issue.message)
    key = []
    sub: dict | None = _schema()
    for part in parts:
        if isinstance(part, int):
            key.append((part, ""))
        else:
            props = list(_resolve(sub).get("properties", {})) if isinstance(sub, dict) else []
            key.append((props.index(part) if part in props else len(props), part))
        sub = _child_schema(sub, part)
    return (tuple(key), issue.message)


def validate_record(record: Any) -> list[RecordIssue]:
    """Every problem with a record (schema and meaning), in field order; empty when valid."""
    issues: list[RecordIssue] = []
    for error in _validator().iter_errors(record):
        issues.extend(_issues_from_error(error))
    issues.extend(_semantic_issues(record))
    return sorted(dict.fromkeys(issues), key=_sort_key)


def check_record(record: Any, source: str | None = None) -> dict:
    """The record itself when valid; otherwise raises InvalidRecordError listing the issues."""
    issues = validate_record(record)
    if issues:
        raise InvalidRecordError(issues, source=source)
    return record


# --------------------------------------------------------------------------- JSON


def record_from_json(text: str, source: str | None = None) -> dict:
    """Parse and validate a record written as JSON; raises InvalidRecordError."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        issue = RecordIssue(
            "$", f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        )
        raise InvalidRecordError([issue], source=source) from None
    return check_record(record, source=source)


def _canonical(value: Any, sub: dict | None) -> Any:
    """value with dict keys in the schema's order; unknown keys keep their order at the end."""
    if isinstance(value, dict):
        props = list(_resolve(sub).get("properties", {})) if isinstance(sub, dict) else []
        keys = [k for k in props if k in value] + [k for k in value if k not in props]
        return {k: _canonical(value[k], _child_schema(sub, k)) for k in keys}
    if isinstance(value, list):
        return [_canonical(v, _child_schema(sub, i)) for i, v in enumerate(value)]
    return value


def record_to_json(record: dict) -> str:
    """The record as stable, pretty JSON in canonical field order, ending with a newline."""
    return json.dumps(_canonical(record, _schema()), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- diff


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python, but a flag turned into a number is a real change.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _scalars(items: list) -> bool:
    return all(isinstance(x, str | int | float | bool) or x is None for x in items)


def _diff(a: Any, b: Any, parts: list[str | int], out: list[FieldChange]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key, value in a.items():
            if key in b:
                _diff(value, b[key], [*parts, key], out)
            else:
                out.append(FieldChange(format_path([*parts, key]), "removed", value, None))
        for key, value in b.items():
            if key not in a:
                out.append(FieldChange(format_path([*parts, key]), "added", None, value))
    elif isinstance(a, list) and isinstance(b, list) and _scalars(a) and _scalars(b):
        # Lists of words (traits, expressions, setups): an insertion reads as one added item,
        # not as every later item changed.
        keys_a = [(type(x) is bool, x) for x in a]  # so True never matches 1
        keys_b = [(type(x) is bool, x) for x in b]
        matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
            for k in range(paired):
                out.append(
                    FieldChange(format_path([*parts, j1 + k]), "changed", a[i1 + k], b[j1 + k])
                )
            for i in range(i1 + paired, i2):
                out.append(FieldChange(format_path([*parts, i]), "removed", a[i], None))
            for j in range(j1 + paired, j2):
                out.append(FieldChange(format_path([*parts, j]), "added", None, b[j]))
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(min(len(a), len(b))):
            _diff(a[i], b[i], [*parts, i], out)
        for i in range(len(b), len(a)):
            out.append(FieldChange(format_path([*parts, i]), "removed", a[i], None))
        for i in range(len(a), len(b)):
            out.append(FieldChange(format_path([*parts, i]), "added", None, b[i]))
    elif not _same(a, b):
        out.append(FieldChange(format_path(parts), "changed", a, b))


def diff_records(a: dict, b: dict) -> list[FieldChange]:
    """Field-level changes from record a to record b, in a's field order then b's new fields."""
    out: list[FieldChange] = []
    _diff(a, b, [], out)
    return out


# --------------------------------------------------------------------------- prompts


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


# Words that open a clause the noun goes before: "full [lips] with a wide smile". "of" is not
# one: it binds to the word before it ("the colour of plums").
_CLAUSE_WORDS = {
    "with", "without", "in", "on", "at", "near", "under", "over", "above", "below", "across",
    "along", "around", "between", "behind", "beside", "through", "toward", "towards", "from",
    "into", "onto", "to", "like", "when", "where", "while", "that", "which", "whose",
}  # fmt: skip
# Irregular participles; "-ed" and "-ing" words are recognised by their ending.
_PARTICIPLES = {
    "worn", "drawn", "grown", "set", "broken", "cut", "swept", "held", "kept", "shorn", "spread",
    "split", "torn", "bent", "hung", "spun",
}  # fmt: skip
# Words that end like participles but are not ("evening in the city", "a string of pearls").
_NOT_PARTICIPLES = {
    "evening", "morning", "ceiling", "building", "clothing", "lighting", "painting", "string",
    "thing", "something", "nothing", "everything", "anything", "spring", "sibling", "wedding",
    "pudding", "darling", "earring", "speed", "breed", "hundred",
}  # fmt: skip
# Adjectives that end like adverbs ("curly"), so they stay before the noun.
_NOT_ADVERBS = {"curly", "only", "early", "oily", "silly", "holy", "ugly", "woolly", "chilly"}


def _is_participle(word: str) -> bool:
    w = word.lower().rsplit("-", 1)[-1]
    if w in _NOT_PARTICIPLES:
        return False
    return w in _PARTICIPLES or (len(w) > 4 and w.endswith(("ed", "ing")))


def _is_adverb(word: str) -> bool:
    w = word.lower()
    return len(w) > 3 and w.endswith("ly") and w not in _NOT_ADVERBS


def _split_clause(text: str) -> tuple[str, str]:
    """(words before the first clause, the rest): 'full', 'with a wide smile'.

    A clause opens at a preposition, "with", "when" and the like, or after a comma (the rest
    then starts with ", "). A participle (with its adverbs) just before the clause word belongs
    to the clause: 'thick' + 'slightly raised at the ends'.
    """
    words = text.split()
    for i, word in enumerate(words):
        if word.endswith(",") and i + 1 < len(words):
            return " ".join([*words[:i], word.rstrip(",")]), ", " + " ".join(words[i + 1 :])
        if word.lower() not in _CLAUSE_WORDS:
            continue
        start = i
        if start > 0 and _is_participle(words[start - 1]):
            start -= 1
            while start > 0 and _is_adverb(words[start - 1]):
                start -= 1
        return " ".join(words[:start]), " ".join(words[start:])
    return " ".join(words), ""


def _around(head: str, middle: str, rest: str) -> str:
    """head, middle and the rest of a split phrase as one, with a comma kept where it was."""
    out = " ".join(part for part in (head, middle) if part)
    if rest.startswith(","):
        return out + rest
    return " ".join(part for part in (out, rest) if part)


def _with_noun(text: str, noun: str, *also: str) -> str:
    """The field's words with its noun where English puts it; text that names it stays.

    'small upturned' -> 'small upturned nose'; 'full with a wide smile' -> 'full lips with a
    wide smile': the noun goes before the first preposition, "with", participle clause or comma.
    """
    text = " ".join(text.split()).strip(", ")
    if not text:
        return ""
    if set(re.findall(r"[a-z]+", text.lower())) & {noun, *also}:
        return text
    head, rest = _split_clause(text)
    return _around(head, noun, rest)


def _text(value: Any) -> str:
    """A text field's words with spaces collapsed; "" when unset."""
    return " ".join(value.split()) if isinstance(value, str) else ""


def _join(phrases: list[str]) -> str:
    return ", ".join(p for p in phrases if p)


def _age(face: dict) -> str:
    age = face.get("apparent_age") or {}
    lo, hi = age.get("min"), age.get("max")
    if lo is not None and hi is not None:
        return f"{lo} years old" if lo == hi else f"{lo}-{hi} years old"
    if lo is not None:
        return f"at least {lo} years old"
    return f"at most {hi} years old" if hi is not None else ""


def _swatch_word(group: dict, name_key: str, hex_key: str) -> str:
    """The colour's name the artist wrote, else the name of its swatch; "" when neither."""
    named = _text(group.get(name_key))
    return named or (colour_name(group[hex_key]) if group.get(hex_key) else "")


def _eyes(face: dict) -> str:
    eyes = face.get("eye_colour")
    if not eyes:
        return ""
    return "heterochromatic eyes" if eyes == "heterochromia" else f"{eyes} eyes"


_NOSE = ("nose",)
_BROWS = ("brows", "brow", "eyebrows", "eyebrow")
_LIPS = ("lips", "lip", "mouth")
_SKIN = ("skin", "complexion", "skinned")
_MOOD = ("mood", "moody", "atmosphere", "feel", "feeling", "vibe")
_EXPRESSION = (
    "expression", "smile", "smiling", "grin", "grinning", "frown", "frowning", "smirk",
    "smirking", "pout", "scowl", "look", "gaze", "stare", "laugh", "laughing",
)  # fmt: skip


def _face(face: dict) -> str:
    shape, jaw = face.get("face_shape"), face.get("jaw")
    return _join(
        [
            _eyes(face),
            f"{shape} face" if shape else "",
            f"{jaw} jaw" if jaw else "",
            _with_noun(_text(face.get("nose")), *_NOSE),
            _with_noun(_text(face.get("brows")), *_BROWS),
            _with_noun(_text(face.get("lips")), *_LIPS),
            _with_noun(_swatch_word(face.get("skin_tone") or {}, "label", "hex"), *_SKIN),
        ]
    )


# Each length: the phrase with the colour word {c} (dropped when no colour is set, where the
# phrase says nothing without it), a phrase of its own, and the words it is also known by.
_HAIR_LENGTHS = {
    "shaved": ("{c} hair", "shaved head", ("short hair", "bald")),
    "buzz": ("{c} hair", "buzz cut", ("short hair",)),
    "pixie": ("{c} hair", "pixie cut", ("short hair",)),
    "chin": ("{c} chin-length hair", "", ("short hair",)),
    "shoulder": ("{c} shoulder-length hair", "", ("medium-length hair",)),
    "mid-back": ("{c} mid-back-length hair", "", ("long hair",)),
    "waist": ("{c} waist-length hair", "", ("long hair",)),
    "longer": ("{c} very long hair", "", ("long hair",)),
}


def _hair(face: dict) -> str:
    hair = face.get("hair") or {}
    colour = _swatch_word(hair, "colour_name", "colour")
    length = hair.get("length")
    if length:
        with_colour, own, _known_as = _HAIR_LENGTHS[length]
        main = with_colour.format(c=colour).strip() if colour or not own else ""
    else:
        main, own = (f"{colour} hair" if colour else ""), ""
    return _join([main, own, _text(hair.get("style"))])


_PREPOSITIONS = {
    "on", "above", "below", "under", "across", "over", "at", "near", "behind", "along",
    "between", "in", "around", "beside", "through",
}  # fmt: skip


def _mark(mark: dict) -> str:
    """'light freckles across the nose', 'dimple on both cheeks when smiling'."""
    placement = " ".join(mark["placement"].split())
    first = placement.split(" ", 1)[0].lower()
    where = placement if first in _PREPOSITIONS else f"on {placement}"
    # A description is read as words before the mark ("light" freckles, "small dark" mole),
    # its clause after the placement ("when smiling").
    head, clause = _split_clause(_text(mark.get("description")))
    kind = mark["kind"]
    if kind == "other":
        noun = "" if head else "mark"  # the description names the thing itself
    else:
        noun = "" if kind in head.lower() else kind
    return _around(head, " ".join(part for part in (noun, where) if part), clause)


def _marks(face: dict) -> str:
    return ", ".join(_mark(mark) for mark in face.get("distinguishing_marks") or [])


def find_outfit(record: dict, name: str | None = None) -> dict | None:
    """The outfit called name (exact, else ignoring case; blank or None: the default one).

    None when no name is given and no default outfit is set: the shot wears no outfit.
    """
    wardrobe = record.get("wardrobe") or {}
    outfits = wardrobe.get("outfits") or []
    if name is None or not name.strip():
        wanted = wardrobe.get("default_outfit")
        if not wanted:
            return None
    else:
        wanted = name.strip()
    for match in (lambda o: o["name"] == wanted, lambda o: _norm(o["name"]) == _norm(wanted)):
        for outfit in outfits:
            if match(outfit):
                return outfit
    who = record.get("identity", {}).get("name", "this persona")
    if not outfits:
        raise NotFoundError(
            f"{who} has no outfits yet, so none is called '{wanted}'.",
            hint="Add the outfit to the wardrobe first, or leave the outfit out.",
        )
    listed = ", ".join(f"'{o['name']}'" for o in outfits)
    raise NotFoundError(
        f"{who} has no outfit called '{wanted}'. The outfits are: {listed}.",
        hint="Choose one of those, or add the outfit to the wardrobe first.",
    )


def _garment(garment: dict) -> str:
    colour = colour_name(garment["colour"]) if garment.get("colour") else ""
    words = [colour, _text(garment.get("material")), garment["item"]]
    return " ".join(w for w in words if w.strip())


def _outfit(record: dict, outfit: dict | None) -> str:
    phrases = [_garment(g) for g in (outfit or {}).get("garments") or []]
    phrases += list((outfit or {}).get("accessories") or [])
    worn = [_match_words(p) for p in phrases]

    def is_worn(item: str) -> bool:
        # "mission patch on the chest" already wears the "mission patch" a rule asks for.
        return any(_contains(w, _match_words(item)) for w in worn)

    rules = (record.get("wardrobe") or {}).get("rules") or []
    # Always-items count as worn before only-with rules are checked, so they can satisfy them.
    for rule in rules:
        if rule["kind"] == "always" and not is_worn(rule["subject"]):
            phrases.append(rule["subject"])
            worn.append(_match_words(rule["subject"]))
    for rule in rules:
        if rule["kind"] == "only-with" and is_worn(rule["object"]) and not is_worn(rule["subject"]):
            phrases.append(rule["subject"])
            worn.append(_match_words(rule["subject"]))
    return ", ".join(phrases)


_SETUP_WORDS = {
    "window light": "window light",
    "golden hour": "golden hour light",
}


def _setup_words(setup: str) -> str:
    return _SETUP_WORDS.get(setup, f"{setup} lighting")


def choose_lighting_setup(record: dict, wanted: str | None = None) -> str | None:
    """The allowed lighting setup called wanted (ignoring case; blank or None: the first one).

    None when the record allows no setups and none is asked for.
    """
    allowed = (record.get("lighting") or {}).get("allowed_setups") or []
    if wanted is None or not wanted.strip():
        return allowed[0] if allowed else None
    for setup in allowed:
        if _norm(setup) == _norm(wanted):
            return setup
    who = record.get("identity", {}).get("name", "this persona")
    wanted = " ".join(wanted.split())
    if not allowed:
        raise NotFoundError(
            f"{who} allows no lighting setups yet, so '{wanted}' cannot be used.",
            hint="Tick it under Lighting › Allowed setups first, or leave the setup out.",
        )
    listed = ", ".join(f"'{s}'" for s in allowed)
    raise NotFoundError(
        f"'{wanted}' is not one of {who}'s lighting setups. The allowed ones are: {listed}.",
        hint="Choose one of those, or allow it under Lighting › Allowed setups first.",
    )


def _temperature_word(kelvin: int) -> str:
    for limit, word in (
        (2400, "very warm"),
        (3600, "warm"),
        (4800, "neutral"),
        (6200, "daylight"),
        (8000, "cool"),
    ):
        if kelvin < limit:
            return word
    return "very cool"


def _contrast_word(ratio: float) -> str:
    for limit, word in ((1.5, "low"), (3, "soft"), (6, "moderate"), (12, "high")):
        if ratio < limit:
            return f"{word} contrast"
    return "very high contrast"


_KEY_DIRECTIONS = {
    "front": "key light from the front",
    "back": "key light from behind",
    "top": "key light from above",
    "below": "key light from below",
}


def _lighting(lighting: dict, setup: str | None) -> str:
    phrases = [_setup_words(setup)] if setup else []
    direction = lighting.get("key_direction")
    if direction:
        phrases.append(_KEY_DIRECTIONS.get(direction, f"key light from the {direction}"))
    kelvin = lighting.get("colour_temperature_k")
    if kelvin is not None:
        phrases.append(f"{_temperature_word(kelvin)} {kelvin}K light")
    if lighting.get("contrast_ratio") is not None:
        phrases.append(_contrast_word(lighting["contrast_ratio"]))
    phrases.append(_with_noun(_text(lighting.get("mood")), *_MOOD))
    return _join(phrases)


def _expression(posture: dict) -> str:
    expressions = posture.get("expression_range") or []
    return _with_noun(_text(expressions[0]), *_EXPRESSION) if expressions else ""


def _posture(posture: dict) -> str:
    phrases = [posture.get("default_stance") or ""]
    tilt = posture.get("head_tilt_deg")
    # Under 3 degrees reads as a straight head; saying so would only add noise.
    if tilt is not None and abs(tilt) >= 3:
        side = "right" if tilt > 0 else "left"
        amount = "slightly " if abs(tilt) < 12 else ""
        phrases.append(f"head tilted {amount}to the {side}")
    phrases.append(_expression(posture))
    return _join(phrases)


def _camera(style: dict) -> str:
    camera = _text(style.get("camera"))
    if not camera:
        return ""
    return camera if camera.lower().startswith("shot on") else f"shot on {camera}"


def _style(style: dict) -> str:
    lens = style.get("lens_mm")
    return _join(
        [
            style.get("medium") or "",
            f"{lens}mm lens" if lens is not None else "",
            _text(style.get("aperture")),
            _camera(style),
        ]
    )


# --------------------------------------------------------------------------- tokens

# CLIP's pre-tokenizer: contractions, runs of letters, single digits, runs of anything else.
_PRETOKEN = re.compile(r"'(?:s|t|re|ve|m|ll|d)\b|[^\W\d_]+|\d|(?:[^\w\s]|_)+")


def estimate_tokens(text: str) -> int:
    """CLIP tokens of text (without start and end) as an over-count, for when no tokenizer is
    at hand: a word of n letters as n/4 tokens rounded up (common words are one), each digit
    and each run of punctuation as one."""
    total = 0
    for piece in _PRETOKEN.findall(text.lower()):
        if piece[0].isalpha():
            total += -(-len(piece.encode("utf-8")) // 4)
        elif piece[0] == "'" and len(piece) > 1 and piece[1].isalpha():
            total += 1  # a contraction: 's, 'll
        else:
            total += max(1, -(-len(piece.encode("utf-8")) // 2))
    return total


_RANK = {name: i for i, name in enumerate(PROMPT_PRIORITY)}


def _phrases(template: str, values: dict[str, str]) -> list[tuple[str, int]]:
    """The filled template as (phrase, rank) pairs, tidied.

    A template phrase whose placeholders are all empty goes whole ("wearing {outfit}" with no
    outfit set would leave "wearing" behind); each phrase a placeholder's text splits into
    takes the template phrase's rank; empty phrases and case-insensitive repeats go (the first
    is kept, with the better rank of the two).
    """
    out: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    for part in template.split(","):
        names = _PLACEHOLDER.findall(part)
        if names and not any(values[n].strip() for n in names):
            continue
        rank = min((_RANK.get(n, len(_RANK)) for n in names), default=_RANK["style"])
        for phrase in _PLACEHOLDER.sub(lambda m: values[m.group(1)], part).split(","):
            phrase = " ".join(phrase.split())
            key = phrase.casefold()
            if not phrase:
                continue
            if key in seen:
                i = seen[key]
                out[i] = (out[i][0], min(out[i][1], rank))
                continue
            seen[key] = len(out)
            out.append((phrase, rank))
    return out


def _fit(
    phrases: list[tuple[str, int]],
    budget: int | None,
    count: Callable[[str], int],
    trigger: str,
) -> tuple[str, int, tuple[str, ...]]:
    """(prompt, its tokens, the phrases dropped) with the positive prompt fitted to budget."""
    kept = list(phrases)
    dropped: list[str] = []
    tokens = count(", ".join(p for p, _ in kept))
    while budget is not None and tokens > budget:
        # The lowest rank goes first, the last of equals first; the trigger token stays.
        droppable = [i for i, (_, rank) in enumerate(kept) if rank > _RANK["trigger"]]
        if not droppable:
            raise StudioError(
                f"A budget of {plural(budget, 'token')} cannot hold even the trigger token "
                f"'{trigger}' ({plural(tokens, 'token')}).",
                hint=f"Give a budget of at least {tokens} tokens.",
            )
        i = max(droppable, key=lambda j: (kept[j][1], j))
        dropped.append(kept.pop(i)[0])
        tokens = count(", ".join(p for p, _ in kept))
    return ", ".join(p for p, _ in kept), tokens, tuple(dropped)


def compose_prompt(
    record: dict,
    action: str = "",
    outfit: str | None = None,
    lighting_setup: str | None = None,
    token_budget: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> Prompt:
    """The positive and negative prompt for a shot: the record's templates filled in.

    outfit, lighting_setup: by name (None: the default outfit, the first allowed setup).
    token_budget: the most tokens the positive prompt may take; the lowest-priority phrases
    that do not fit are dropped and listed. None: no limit.
    count_tokens: counts a text's tokens (the text encoder's tokenizer); None: an estimate.
    """
    check_record(record)
    if token_budget is not None and token_budget < 1:
        raise StudioError(
            f"A token budget of {token_budget} leaves no room for a prompt.",
            hint="Give a budget of at least 1 token, or none for no limit.",
        )
    count = count_tokens or estimate_tokens
    face = record.get("face") or {}
    setup = choose_lighting_setup(record, lighting_setup)
    action = " ".join(action.split())
    positive_values = {
        "trigger": record["identity"]["trigger_token"],
        "name": record["identity"]["name"],
        "age": _age(face),
        "face": _face(face),
        "hair": _hair(face),
        "marks": _marks(face),
        "outfit": _outfit(record, find_outfit(record, outfit)),
        "lighting": _lighting(record.get("lighting") or {}, setup),
        "posture": _posture(record.get("posture") or {}),
        "style": _style(record.get("style") or {}),
        "action": action,
    }
    rules = (record.get("wardrobe") or {}).get("rules") or []
    never = [r["subject"] for r in rules if r["kind"] == "never"]
    negative_values = {
        "negative_traits": ", ".join(record.get("negative_traits") or []),
        "wardrobe_never": ", ".join(never),
    }
    template = record["prompt_template"]
    positive_template = template["positive"]
    if "{action}" not in positive_template:
        positive_template = f"{positive_template}, {{action}}"
    negative_template = template["negative"]
    for name in NEGATIVE_PLACEHOLDERS:
        if f"{{{name}}}" not in negative_template:
            negative_template = f"{negative_template}, {{{name}}}"
    positive, tokens, dropped = _fit(
        _phrases(positive_template, positive_values),
        token_budget,
        count,
        positive_values["trigger"],
    )
    negative = ", ".join(p for p, _ in _phrases(negative_template, negative_values))
    return Prompt(
        positive=positive,
        negative=negative,
        tokens=tokens,
        negative_tokens=count(negative) if negative else 0,
        dropped=dropped,
        estimated=count_tokens is None,
        budget=token_budget,
        lighting_setup=setup,
    )


# --------------------------------------------------------------------------- contradictions

_ARTICLES = {"a", "an", "the"}
_SPELLINGS = {"blond": "blonde", "gray": "grey", "color": "colour", "colored": "coloured"}


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _match_words(text: str) -> tuple[str, ...]:
    """Words to compare phrases by: lower case, hyphens split, no articles, plurals singular."""
    words = re.findall(r"[^\W_]+", text.casefold())
    return tuple(_singular(_SPELLINGS.get(w, w)) for w in words if w not in _ARTICLES)


def _contains(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    """True when inner's words stand together, in order, in outer."""
    n = len(inner)
    return n > 0 and any(outer[i : i + n] == inner for i in range(len(outer) - n + 1))


def _asserted(record: dict) -> list[tuple[str, str, list[str]]]:
    """What the positive prompt can ask for: (field path, how to name it, its phrases)."""
    out: list[tuple[str, str, list[str]]] = []

    def add(path: str, label: str, *phrases: str) -> None:
        kept = [p for p in phrases if p]
        if kept:
            out.append((path, label, kept))

    face = record.get("face") or {}
    eyes = face.get("eye_colour")
    if eyes:
        also = "heterochromia" if eyes == "heterochromia" else ""
        add("face.eye_colour", f"the eye colour '{eyes}'", _eyes(face), also)
    if face.get("face_shape"):
        add(
            "face.face_shape",
            f"the face shape '{face['face_shape']}'",
            f"{face['face_shape']} face",
        )
    if face.get("jaw"):
        add("face.jaw", f"the jaw '{face['jaw']}'", f"{face['jaw']} jaw")
    for field, nouns in (("nose", _NOSE), ("brows", _BROWS), ("lips", _LIPS)):
        text = _text(face.get(field))
        add(f"face.{field}", f"the {field} '{text}'", _with_noun(text, *nouns))
    skin = face.get("skin_tone") or {}
    tone = _swatch_word(skin, "label", "hex")
    add(
        "face.skin_tone.label" if _text(skin.get("label")) else "face.skin_tone.hex",
        f"the skin tone '{tone}'",
        _with_noun(tone, *_SKIN),
    )
    hair = face.get("hair") or {}
    colour = _swatch_word(hair, "colour_name", "colour")
    if colour:
        path = "face.hair.colour_name" if _text(hair.get("colour_name")) else "face.hair.colour"
        add(path, f"the hair colour '{colour}'", f"{colour} hair")
    if hair.get("length") in _HAIR_LENGTHS:
        with_colour, own, known_as = _HAIR_LENGTHS[hair["length"]]
        add(
            "face.hair.length",
            f"the hair length '{hair['length']}'",
            with_colour.format(c="").strip(),
            own,
            *known_as,
        )
    style = _text(hair.get("style"))
    add("face.hair.style", f"the hair style '{style}'", style)
    for i, mark in enumerate(face.get("distinguishing_marks") or []):
        text = _mark(mark)
        add(f"face.distinguishing_marks[{i}].kind", f"the distinguishing mark '{text}'", text)

    wardrobe = record.get("wardrobe") or {}
    for i, outfit in enumerate(wardrobe.get("outfits") or []):
        name = outfit["name"]
        for j, garment in enumerate(outfit.get("garments") or []):
            add(
                f"wardrobe.outfits[{i}].garments[{j}].item",
                f"the garment '{garment['item']}' of outfit '{name}'",
                _garment(garment),
            )
        for j, accessory in enumerate(outfit.get("accessories") or []):
            add(
                f"wardrobe.outfits[{i}].accessories[{j}]",
                f"the accessory '{accessory}' of outfit '{name}'",
                accessory,
            )
    for i, rule in enumerate(wardrobe.get("rules") or []):
        if rule["kind"] in ("always", "only-with"):
            label = f"the {rule['kind']} rule '{rule['subject']}'"
            add(f"wardrobe.rules[{i}].subject", label, rule["subject"])

    lighting = record.get("lighting") or {}
    for i, setup in enumerate(lighting.get("allowed_setups") or []):
        add(f"lighting.allowed_setups[{i}]", f"the lighting setup '{setup}'", _setup_words(setup))
    mood = _text(lighting.get("mood"))
    add("lighting.mood", f"the lighting mood '{mood}'", _with_noun(mood, *_MOOD))

    posture = record.get("posture") or {}
    stance = posture.get("default_stance") or ""
    add("posture.default_stance", f"the stance '{stance}'", stance)
    expression = _expression(posture)
    first = _text((posture.get("expression_range") or [""])[0])
    add("posture.expression_range[0]", f"the expression '{first}'", expression)

    style_group = record.get("style") or {}
    medium = style_group.get("medium") or ""
    add("style.medium", f"the medium '{medium}'", medium)
    camera = _text(style_group.get("camera"))
    add("style.camera", f"the camera '{camera}'", _camera(style_group))
    return out


def _ruled_out(record: dict) -> list[tuple[str, str, str]]:
    """What the negative prompt rules out: (field path, how to name it, its phrase)."""
    out = []
    for i, trait in enumerate(record.get("negative_traits") or []):
        out.append((f"negative_traits[{i}]", f"Never show '{trait}'", trait))
    for i, rule in enumerate((record.get("wardrobe") or {}).get("rules") or []):
        if rule["kind"] == "never":
            out.append(
                (
                    f"wardrobe.rules[{i}].subject",
                    f"the never rule '{rule['subject']}'",
                    rule["subject"],
                )
            )
    return out


def _contradiction_issues(record: dict) -> list[RecordIssue]:
    """A negative trait or never rule that rules out what the positive prompt asks for.

    It matches when its words stand together in one of the positive phrases ("brown hair" in
    "honey brown hair"): the prompt would ask for the thing and against it at once. Both
    fields get the issue, each naming the other.
    """
    try:
        asserted = [(p, label, [_match_words(x) for x in xs]) for p, label, xs in _asserted(record)]
        ruled_out = _ruled_out(record)
    except (AttributeError, KeyError, TypeError, IndexError, ValueError):
        return []  # a record of the wrong shape: the schema's issues say what to fix first
    issues = []
    for neg_path, neg_label, phrase in ruled_out:
        words = _match_words(phrase) if isinstance(phrase, str) else ()
        reported: set[str] = set()
        for pos_path, pos_label, phrases in asserted:
            if pos_path in reported or not any(_contains(p, words) for p in phrases):
                continue
            reported.add(pos_path)
            message = (
                f"{neg_label} contradicts {pos_label}: the prompt would ask for it and against "
                "it; remove one of them"
            )
            issues.append(RecordIssue(neg_path, message))
            issues.append(RecordIssue(pos_path, message))
    return issues
