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
  before it ("light freckles across the nose").
- `{outfit}`: the chosen outfit (else the default one; none when no default is set): garments
  as colour word, material and item, then accessories, then the subjects of `always` rules,
  then the subject of each `only-with` rule whose object is worn.
- `{lighting}`: allowed setups, key light direction, colour temperature in words
  ("warm 3200K light"), contrast and mood.
- `{posture}`: the default stance, head tilt (positive degrees tilt to the right) and the
  first expression of the expression range.
- `{style}`: medium, lens, aperture and camera.
- `{action}`: the shot's action text; appended at the end when the template lacks it.

In the negative template:

- `{negative_traits}`: the record's negative traits.
- `{wardrobe_never}`: the subjects of `never` wardrobe rules.

Both are appended when the negative template lacks them, so they always reach the prompt.
A template phrase (text between commas) whose placeholders are all empty is dropped whole, so
"wearing {outfit}" leaves nothing behind when no outfit is set. After substitution a prompt is
split on commas; empty phrases and case-insensitive repeats are dropped (the first is kept)
and whitespace is collapsed.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from studio.core.colours import colour_name
from studio.core.errors import InvalidRecordError, NotFoundError
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

DEFAULT_POSITIVE_TEMPLATE = (
    "{trigger}, {style}, portrait of {name}, {age}, {face}, {hair}, {marks}, "
    "wearing {outfit}, {posture}, {action}, {lighting}"
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
    """A composed positive and negative prompt."""

    positive: str
    negative: str


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


def _with_noun(text: str, noun: str, *also: str) -> str:
    """'small upturned' -> 'small upturned nose'; text that already names it stays."""
    text = " ".join(text.split())
    if not text:
        return ""
    words = set(re.findall(r"[a-z]+", text.lower()))
    return text if words & {noun, *also} else f"{text} {noun}"


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


def _face(face: dict) -> str:
    eyes = face.get("eye_colour")
    shape, jaw = face.get("face_shape"), face.get("jaw")
    return _join(
        [
            ("heterochromatic eyes" if eyes == "heterochromia" else f"{eyes} eyes") if eyes else "",
            f"{shape} face" if shape else "",
            f"{jaw} jaw" if jaw else "",
            _with_noun(_text(face.get("nose")), "nose"),
            _with_noun(_text(face.get("brows")), "brows", "brow", "eyebrows", "eyebrow"),
            _with_noun(_text(face.get("lips")), "lips", "lip", "mouth"),
            _with_noun(_swatch_word(face.get("skin_tone") or {}, "label", "hex"), "skin"),
        ]
    )


# Each length: the phrase with the colour word {c} (dropped when no colour is set, where the
# phrase says nothing without it), and a phrase of its own.
_HAIR_LENGTHS = {
    "shaved": ("{c} hair", "shaved head"),
    "buzz": ("{c} hair", "buzz cut"),
    "pixie": ("{c} hair", "pixie cut"),
    "chin": ("{c} chin-length hair", ""),
    "shoulder": ("{c} shoulder-length hair", ""),
    "mid-back": ("{c} mid-back-length hair", ""),
    "waist": ("{c} waist-length hair", ""),
    "longer": ("{c} very long hair", ""),
}


def _hair(face: dict) -> str:
    hair = face.get("hair") or {}
    colour = _swatch_word(hair, "colour_name", "colour")
    length = hair.get("length")
    if length:
        with_colour, own = _HAIR_LENGTHS[length]
        main = with_colour.format(c=colour).strip() if colour or not own else ""
    else:
        main, own = (f"{colour} hair" if colour else ""), ""
    return _join([main, own, _text(hair.get("style"))])


_PREPOSITIONS = {
    "on", "above", "below", "under", "across", "over", "at", "near", "behind", "along",
    "between", "in", "around", "beside", "through",
}  # fmt: skip


def _marks(face: dict) -> str:
    phrases = []
    for mark in face.get("distinguishing_marks") or []:
        placement = " ".join(mark["placement"].split())
        first = placement.split(" ", 1)[0].lower()
        where = placement if first in _PREPOSITIONS else f"on {placement}"
        # Descriptions are read as words before the mark ("light" freckles, "small dark" mole).
        description = _text(mark.get("description"))
        if not description:
            phrases.append(f"{mark['kind']} {where}")
        elif mark["kind"] in description.lower():
            phrases.append(f"{description} {where}")
        else:
            phrases.append(f"{description} {mark['kind']} {where}")
    return ", ".join(phrases)


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


def _outfit(record: dict, outfit: dict | None) -> str:
    phrases = []
    worn: list[str] = []
    for garment in (outfit or {}).get("garments") or []:
        colour = colour_name(garment["colour"]) if garment.get("colour") else ""
        words = [colour, _text(garment.get("material")), garment["item"]]
        phrases.append(" ".join(w for w in words if w.strip()))
        worn.append(_norm(garment["item"]))
    for accessory in (outfit or {}).get("accessories") or []:
        phrases.append(accessory)
        worn.append(_norm(accessory))
    rules = (record.get("wardrobe") or {}).get("rules") or []
    # Always-items count as worn before only-with rules are checked, so they can satisfy them.
    for rule in rules:
        if rule["kind"] == "always" and _norm(rule["subject"]) not in worn:
            phrases.append(rule["subject"])
            worn.append(_norm(rule["subject"]))
    for rule in rules:
        if (
            rule["kind"] == "only-with"
            and _norm(rule["object"]) in worn
            and _norm(rule["subject"]) not in worn
        ):
            phrases.append(rule["subject"])
            worn.append(_norm(rule["subject"]))
    return ", ".join(phrases)


_SETUP_WORDS = {
    "window light": "window light",
    "golden hour": "golden hour light",
}


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


def _lighting(lighting: dict) -> str:
    phrases = [_SETUP_WORDS.get(s, f"{s} lighting") for s in lighting.get("allowed_setups") or []]
    direction = lighting.get("key_direction")
    if direction:
        phrases.append(_KEY_DIRECTIONS.get(direction, f"key light from the {direction}"))
    kelvin = lighting.get("colour_temperature_k")
    if kelvin is not None:
        phrases.append(f"{_temperature_word(kelvin)} {kelvin}K light")
    if lighting.get("contrast_ratio") is not None:
        phrases.append(_contrast_word(lighting["contrast_ratio"]))
    phrases.append(_with_noun(_text(lighting.get("mood")), "mood", "moody"))
    return _join(phrases)


def _posture(posture: dict) -> str:
    phrases = [posture.get("default_stance") or ""]
    tilt = posture.get("head_tilt_deg")
    # Under 3 degrees reads as a straight head; saying so would only add noise.
    if tilt is not None and abs(tilt) >= 3:
        side = "right" if tilt > 0 else "left"
        amount = "slightly " if abs(tilt) < 12 else ""
        phrases.append(f"head tilted {amount}to the {side}")
    expressions = posture.get("expression_range") or []
    if expressions:
        phrases.append(_with_noun(expressions[0], "expression"))
    return _join(phrases)


def _style(style: dict) -> str:
    lens = style.get("lens_mm")
    phrases = [
        style.get("medium") or "",
        f"{lens}mm lens" if lens is not None else "",
        _text(style.get("aperture")),
    ]
    camera = _text(style.get("camera"))
    if camera:
        phrases.append(camera if camera.lower().startswith("shot on") else f"shot on {camera}")
    return _join(phrases)


def _tidy(text: str) -> str:
    """Split on commas, drop empty and repeated phrases (ignoring case), collapse spaces."""
    seen: set[str] = set()
    phrases = []
    for phrase in text.split(","):
        phrase = " ".join(phrase.split())
        key = phrase.casefold()
        if phrase and key not in seen:
            seen.add(key)
            phrases.append(phrase)
    return ", ".join(phrases)


def _fill(template: str, values: dict[str, str]) -> str:
    """Fill each comma-separated phrase; one whose placeholders are all empty goes whole."""
    phrases = []
    for phrase in template.split(","):
        names = _PLACEHOLDER.findall(phrase)
        if names and not any(values[n].strip() for n in names):
            continue  # "wearing {outfit}" with no outfit set would leave "wearing" behind
        phrases.append(_PLACEHOLDER.sub(lambda m: values[m.group(1)], phrase))
    return ",".join(phrases)


def compose_prompt(record: dict, action: str = "", outfit: str | None = None) -> Prompt:
    """The positive and negative prompt for a shot: the record's templates filled in."""
    check_record(record)
    face = record.get("face") or {}
    action = " ".join(action.split())
    positive_values = {
        "trigger": record["identity"]["trigger_token"],
        "name": record["identity"]["name"],
        "age": _age(face),
        "face": _face(face),
        "hair": _hair(face),
        "marks": _marks(face),
        "outfit": _outfit(record, find_outfit(record, outfit)),
        "lighting": _lighting(record.get("lighting") or {}),
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
    positive = _fill(template["positive"], positive_values)
    if "{action}" not in template["positive"]:
        positive = f"{positive}, {action}"
    negative = _fill(template["negative"], negative_values)
    for name in NEGATIVE_PLACEHOLDERS:
        if f"{{{name}}}" not in template["negative"]:
            negative = f"{negative}, {negative_values[name]}"
    return Prompt(_tidy(positive), _tidy(negative))
