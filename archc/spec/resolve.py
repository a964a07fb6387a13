"""Resolution of interpolations with OmegaConf, mapping every failure back to a spec location."""

from __future__ import annotations

import re

from archc.errors import SpecError, did_you_mean
from archc.spec.compose import Composed
from archc.spec.resolvers import refuse_foreign_resolvers, register


def check_strings(composed: Composed) -> None:
    """Refuse foreign resolvers anywhere in the composed spec, before OmegaConf sees it."""

    def walk(value, path):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, path + (k,))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, path + (i,))
        elif isinstance(value, str) and "${" in value:
            refuse_foreign_resolvers(value, composed.loc(path))

    walk(composed.data, ())


def _error_path(exc) -> tuple:
    key = getattr(exc, "full_key", None) or ""
    parts: list = []
    for part in str(key).replace("[", ".").replace("]", "").split("."):
        if part:
            parts.append(int(part) if part.isdigit() else part)
    return tuple(parts)


_RAISED = re.compile(r"^\w+ raised while resolving interpolation: ")


def _message(exc, raw) -> str:
    """OmegaConf's first line, without its exception-class prefix, naming the value that failed."""
    kind = type(exc).__name__
    text = str(exc).splitlines()[0].strip() if str(exc) else kind
    text = _RAISED.sub("", text).replace("Interpolation key", "interpolation key")
    text = text.replace("Recursive interpolation detected", "the interpolation refers to itself")
    if kind == "MissingMandatoryValue":
        return "missing value '???': set it in the spec or with an override"
    if kind == "GrammarParseError":
        text = f"bad interpolation syntax: {text}"
    if isinstance(raw, str) and kind != "InterpolationKeyError":
        shown = raw if len(raw) <= 60 else raw[:57] + "..."
        text = f"cannot resolve {shown!r}: {text}"
    return text


_MISSING_KEY = re.compile(r"^interpolation key '([^']+)' not found$")


def _missing_key_hint(text: str, tree) -> str:
    """`` (did you mean 'vars.d_model'?)`` for ``interpolation key 'vars.d_modle' not found``."""
    match = _MISSING_KEY.match(text)
    if not match:
        return ""
    parts = match.group(1).split(".")
    for i, part in enumerate(parts):
        if not isinstance(tree, dict):
            return ""
        if part not in tree:
            return did_you_mean(part, tree, "".join(f"{p}." for p in parts[:i]))
        tree = tree[part]
    return ""


def _value_at(tree, path: tuple):
    for part in path:
        try:
            tree = tree[part]
        except (KeyError, IndexError, TypeError):
            return None
    return tree


def resolve_tree(tree: dict, loc_of, prefix: tuple = ()) -> dict:
    """Resolve every interpolation in ``tree`` (plain data) and return plain data.

    ``loc_of(path)`` maps a path in ``tree`` (prefixed by ``prefix``) to a Loc for error messages.
    """
    register()
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = OmegaConf.create(tree, flags={"allow_objects": False})
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        path = _error_path(exc)
        message = _message(exc, _value_at(tree, path))
        raise SpecError(message + _missing_key_hint(message, tree), loc_of(prefix + path)) from None
    except (ValueError, TypeError, ArithmeticError) as exc:  # raised by a resolver
        raise SpecError(f"bad interpolation: {exc}", loc_of(prefix)) from None
