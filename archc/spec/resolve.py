"""Resolution of interpolations with OmegaConf, mapping every failure back to a spec location."""

from __future__ import annotations

from archc.errors import SpecError
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


def _message(exc) -> str:
    text = str(exc).splitlines()[0].strip() if str(exc) else type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and type(exc).__name__ == "InterpolationResolutionError" and str(cause):
        text = str(cause).splitlines()[0]
    text = text.replace("Interpolation key", "interpolation key")
    return text


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
        raise SpecError(_message(exc), loc_of(prefix + path)) from None
    except (ValueError, TypeError, ArithmeticError) as exc:  # raised by a resolver
        raise SpecError(f"bad interpolation: {exc}", loc_of(prefix)) from None
