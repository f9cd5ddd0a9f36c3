"""The persona record: defaults, validation, JSON, field paths, diffs and prompt composition.

A record is a plain dict shaped by `resources/persona.schema.json`. Field paths are written
like `face.hair.colour` or `wardrobe.outfits[0].garments[1].colour`; `$` is the whole record.

Prompt templates use `{placeholder}` tokens. In the positive template:

- `{trigger}`: the trigger token.
- `{name}`: the persona's name.
- `{age}`: the apparent age, "30 years old" or "28-34 years old".
- `{face}`: eye colour, face shape, jaw, nose, brows, lips and skin tone.
- `{hair}`: hair colour name, length and style.
- `{marks}`: each distinguishing mark with its placement, its description read as words
  before it ("light freckles across the nose").
- `{outfit}`: the chosen outfit (else the default one): garments as colour word, material and
  item, then accessories, then the subjects of `always` rules, then the subject of each
  `only-with` rule whose object is worn.
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
After substitution a prompt is split on commas; empty phrases and case-insensitive repeats
are dropped (the first is kept) and whitespace is collapsed.
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


def set_path(record: dict, path: str, value: Any) -> dict:
    """A deep copy of record with the field at path set; `[n]` with n == len appends."""
    parts = parse_path(path)
    if not parts:
        return copy.deepcopy(value)
    new = copy.deepcopy(record)
    parent = new
    for part in parts[:-1]:
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
    """A complete, valid record for a new persona called name."""
    name = name.strip()
    record = {
        "schema_version": SCHEMA_VERSION,
        "identity": {
            "name": name,
            "trigger_token": trigger_token
            if trigger_token is not None
            else _trigger_from_name(name),
            "seed_base": _seed_from_name(name),
            "description": "",
        },
        "face": {
            "eye_colour": "brown",
            "face_shape": "oval",
            "jaw": "soft",
            "nose": "",
            "brows": "",
            "lips": "",
            "skin_tone": {"label": "medium", "hex": "#c68642"},
            "distinguishing_marks": [],
            "hair": {
                "colour_name": "dark brown",
                "colour": "#3b2a20",
                "length": "shoulder",
                "style": "loose waves",
            },
            "apparent_age": {"min": 25, "max": 35},
        },
        "wardrobe": {
            "outfits": [
                {
                    "name": "everyday",
                    "garments": [
                        {"item": "t-shirt", "colour": "#f5f5f0", "material": "cotton"},
                        {"item": "jeans", "colour": "#34568b", "material": "denim"},
                    ],
                    "accessories": [],
                    "notes": "",
                }
            ],
            "default_outfit": "everyday",
            "rules": [],
        },
        "lighting": {
            "key_direction": "front-left",
            "colour_temperature_k": 5600,
            "contrast_ratio": 2,
            "mood": "soft natural",
            "allowed_setups": ["loop", "window light"],
        },
        "posture": {
            "default_stance": "standing relaxed",
            "head_tilt_deg": 0,
            "expression_range": ["neutral", "soft smile"],
        },
        "style": {"medium": "photograph", "lens_mm": 85, "aperture": "f/2.8", "camera": ""},
        "negative_traits": ["blurry", "deformed hands", "extra fingers"],
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
    if isinstance(wardrobe, dict) and isinstance(wardrobe.get("outfits"), list):
        names: dict[str, int] = {}
        for i, outfit in enumerate(wardrobe["outfits"]):
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
        known = [o["name"] for o in wardrobe["outfits"] if isinstance(o, dict) and "name" in o]
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


def _age(face: dict) -> str:
    lo, hi = face["apparent_age"]["min"], face["apparent_age"]["max"]
    return f"{lo} years old" if lo == hi else f"{lo}-{hi} years old"


def _face(face: dict) -> str:
    eyes = face["eye_colour"]
    skin = face["skin_tone"]
    skin_label = skin["label"].strip() or colour_name(skin["hex"])
    return ", ".join(
        [
            "heterochromatic eyes" if eyes == "heterochromia" else f"{eyes} eyes",
            f"{face['face_shape']} face",
            f"{face['jaw']} jaw",
            _with_noun(face.get("nose", ""), "nose"),
            _with_noun(face.get("brows", ""), "brows", "brow", "eyebrows", "eyebrow"),
            _with_noun(face.get("lips", ""), "lips", "lip", "mouth"),
            _with_noun(skin_label, "skin"),
        ]
    )


_HAIR_LENGTHS = {
    "shaved": "{c} hair, shaved head",
    "buzz": "{c} hair, buzz cut",
    "pixie": "{c} hair, pixie cut",
    "chin": "{c} chin-length hair",
    "shoulder": "{c} shoulder-length hair",
    "mid-back": "{c} mid-back-length hair",
    "waist": "{c} waist-length hair",
    "longer": "{c} very long hair",
}


def _hair(face: dict) -> str:
    hair = face["hair"]
    colour = hair["colour_name"].strip() or colour_name(hair["colour"])
    return ", ".join([_HAIR_LENGTHS[hair["length"]].format(c=colour), hair.get("style", "")])


_PREPOSITIONS = {
    "on", "above", "below", "under", "across", "over", "at", "near", "behind", "along",
    "between", "in", "around", "beside", "through",
}  # fmt: skip


def _marks(face: dict) -> str:
    phrases = []
    for mark in face.get("distinguishing_marks", []):
        placement = " ".join(mark["placement"].split())
        first = placement.split(" ", 1)[0].lower()
        where = placement if first in _PREPOSITIONS else f"on {placement}"
        # Descriptions are read as words before the mark ("light" freckles, "small dark" mole).
        description = " ".join(mark.get("description", "").split())
        if not description:
            phrases.append(f"{mark['kind']} {where}")
        elif mark["kind"] in description.lower():
            phrases.append(f"{description} {where}")
        else:
            phrases.append(f"{description} {mark['kind']} {where}")
    return ", ".join(phrases)


def find_outfit(record: dict, name: str | None = None) -> dict:
    """The outfit called name (exact, else ignoring case; blank or None: the default one)."""
    wardrobe = record["wardrobe"]
    wanted = wardrobe["default_outfit"] if name is None or not name.strip() else name.strip()
    outfits = wardrobe["outfits"]
    for match in (lambda o: o["name"] == wanted, lambda o: _norm(o["name"]) == _norm(wanted)):
        for outfit in outfits:
            if match(outfit):
                return outfit
    listed = ", ".join(f"'{o['name']}'" for o in outfits)
    who = record.get("identity", {}).get("name", "this persona")
    raise NotFoundError(
        f"{who} has no outfit called '{wanted}'. The outfits are: {listed}.",
        hint="Choose one of those, or add the outfit to the wardrobe first.",
    )


def _outfit(record: dict, outfit: dict) -> str:
    phrases = []
    worn: list[str] = []
    for garment in outfit["garments"]:
        words = [colour_name(garment["colour"]), garment.get("material", ""), garment["item"]]
        phrases.append(" ".join(w for w in words if w.strip()))
        worn.append(_norm(garment["item"]))
    for accessory in outfit.get("accessories", []):
        phrases.append(accessory)
        worn.append(_norm(accessory))
    rules = record["wardrobe"]["rules"]
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
    phrases = [_SETUP_WORDS.get(s, f"{s} lighting") for s in lighting["allowed_setups"]]
    direction = lighting["key_direction"]
    phrases.append(_KEY_DIRECTIONS.get(direction, f"key light from the {direction}"))
    kelvin = lighting["colour_temperature_k"]
    phrases.append(f"{_temperature_word(kelvin)} {kelvin}K light")
    phrases.append(_contrast_word(lighting["contrast_ratio"]))
    phrases.append(_with_noun(lighting.get("mood", ""), "mood", "moody"))
    return ", ".join(phrases)


def _posture(posture: dict) -> str:
    phrases = [posture["default_stance"]]
    tilt = posture["head_tilt_deg"]
    # Under 3 degrees reads as a straight head; saying so would only add noise.
    if abs(tilt) >= 3:
        side = "right" if tilt > 0 else "left"
        amount = "slightly " if abs(tilt) < 12 else ""
        phrases.append(f"head tilted {amount}to the {side}")
    expressions = posture.get("expression_range", [])
    if expressions:
        phrases.append(_with_noun(expressions[0], "expression"))
    return ", ".join(phrases)


def _style(style: dict) -> str:
    phrases = [style["medium"], f"{style['lens_mm']}mm lens", style.get("aperture", "")]
    camera = " ".join(style.get("camera", "").split())
    if camera:
        phrases.append(camera if camera.lower().startswith("shot on") else f"shot on {camera}")
    return ", ".join(phrases)


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
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def compose_prompt(record: dict, action: str = "", outfit: str | None = None) -> Prompt:
    """The positive and negative prompt for a shot: the record's templates filled in."""
    check_record(record)
    face = record["face"]
    action = " ".join(action.split())
    positive_values = {
        "trigger": record["identity"]["trigger_token"],
        "name": record["identity"]["name"],
        "age": _age(face),
        "face": _face(face),
        "hair": _hair(face),
        "marks": _marks(face),
        "outfit": _outfit(record, find_outfit(record, outfit)),
        "lighting": _lighting(record["lighting"]),
        "posture": _posture(record["posture"]),
        "style": _style(record["style"]),
        "action": action,
    }
    never = [r["subject"] for r in record["wardrobe"]["rules"] if r["kind"] == "never"]
    negative_values = {
        "negative_traits": ", ".join(record["negative_traits"]),
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
