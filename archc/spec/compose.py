"""Composition: a spec's ``defaults:`` list, config groups and command-line overrides.

A subset of Hydra's semantics, done here so that every value keeps the file, line and column it came from
(``archc explain`` reports it) and so that config groups resolve against the spec's own folder first, then
the shipped catalog, and nowhere else.

Defaults entries:

* ``- _self_``: where the file's own content is merged (last when omitted, as in Hydra).
* ``- group: option``: merges ``<group>/<option>.yaml`` under ``blocks.<group>`` (config groups in archc are
  mostly reusable blocks), or under the path named by a ``# @package path`` first line (``_global_`` is the
  root, as in Hydra). ``- group@pkg: option`` places it at ``pkg``. ``option: null`` skips the group.
* ``- name``: merges another spec ``name.yaml`` at the root, so a spec can extend one without copying it.

Overrides use Hydra's grammar (parsed by hydra-core): ``key=value`` changes an existing key, ``+key=value``
adds one, ``++key=value`` sets whether or not it exists, ``~key`` deletes, ``group=option`` picks a
config group option.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

from archc.errors import COMMAND_LINE, Loc, SpecError, did_you_mean
from archc.paths import catalog_dir
from archc.spec.yaml_source import Located, forget_below, load_yaml_file

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass
class Origin:
    """Where a value came from: ``kind`` is ``spec``, ``group``, ``override`` or ``default``."""

    kind: str
    loc: Loc
    detail: str = ""


@dataclass
class Composed:
    """The merged, unresolved spec with the origin of every path in it."""

    data: dict
    origins: dict[tuple, Origin]
    file: str
    overrides: list[str] = field(default_factory=list)
    choices: dict[str, str | None] = field(default_factory=dict)  # group -> option picked

    def loc(self, path: tuple) -> Loc:
        """The nearest recorded location of ``path`` or of one of its parents."""
        for i in range(len(path), -1, -1):
            origin = self.origins.get(tuple(path[:i]))
            if origin is not None:
                return origin.loc
        return Loc(self.file)


@dataclass
class Override:
    text: str
    key: str
    kind: str  # change | add | force | delete
    value: object
    loc: Loc
    used: bool = False


# Hydra's parser takes time quadratic in an override's length: a list of 4,000 numbers (8,000 characters) took
# 3.5 s and one of 20,000 over two minutes; 1,000 characters parse in well under 0.1 s and hold any real override.
MAX_OVERRIDE = 1_000
# ... and about 0.6 ms per override: 20,000 of them took 13 s. A command line holds a few; 1,000 take 0.6 s.
MAX_OVERRIDES = 1_000


def parse_overrides(texts: list[str]) -> list[Override]:
    """Parse command-line overrides with Hydra's grammar; sweeps are refused here."""
    if not texts:
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser  # 0.2 s: only when needed
    from hydra.errors import HydraException

    if len(texts) > MAX_OVERRIDES:
        raise SpecError(f"{len(texts):,} overrides: at most {MAX_OVERRIDES:,}; put the values in a spec that "
                        "extends this one (defaults: [name])", Loc(COMMAND_LINE, 1, 1))
    parser = _parser(OverridesParser)
    out = []
    col = 1
    for text in texts:
        loc = Loc(COMMAND_LINE, 1, col)
        col += len(text) + 1
        if len(text) > MAX_OVERRIDE:
            raise SpecError(f"bad override '{text[:40]}...': longer than {MAX_OVERRIDE:,} characters ({len(text):,}); "
                            "put long values in the spec", loc)
        try:
            (ov,) = parser.parse_overrides([text])
        except HydraException as exc:
            if isinstance(exc.__cause__, _Refused):
                raise SpecError(f"bad override '{text}': {exc.__cause__}", loc) from None
            reason = str(exc).splitlines()[0]
            raise SpecError(f"bad override '{text}': {reason} (expected key=value, +key=value, ~key)",
                            loc) from None
        except (ValueError, RecursionError) as exc:  # an int of 4,301 digits; brackets nested 1,000 deep
            reason = "a number too long" if isinstance(exc, ValueError) else "nested too deeply"
            raise SpecError(f"bad override '{text[:60]}{'...' if len(text) > 60 else ''}': {reason}", loc) from None
        if ov.is_sweep_override():
            raise SpecError(f"bad override '{text}': choice(), range(), interval(), glob() and a,b list several "
                            "values, a sweep; sweeps are for a later 'archc sweep', and this command takes one value",
                            loc)
        if ov.package is not None:
            raise SpecError(f"bad override '{text}': package overrides (@pkg) are not supported", loc)
        kind = "delete" if ov.is_delete() else "add" if ov.is_add() else "force" if ov.is_force_add() else "change"
        value = None if ov.is_delete() else _plain(ov.value())
        out.append(Override(text, ov.key_or_group, kind, value, loc))
    return out


# Hydra's override functions that give the same value on every run; any other (shuffle draws at random, and
# whatever a later Hydra adds) is refused, so that six identical commands write six identical files.
DETERMINISTIC_FUNCTIONS = ("int", "float", "str", "bool", "choice", "range", "interval", "tag", "sort", "glob")


class _Refused(Exception):
    pass


def _refuse(name: str):
    def refuse(*args, **kwargs):
        why = "draws at random, so two runs would give different files" if name == "shuffle" else \
            "is not supported in archc overrides"
        raise _Refused(f"{name}() {why}; use {', '.join(f + '()' for f in DETERMINISTIC_FUNCTIONS)}")
    return refuse


def _parser(parser_class):
    """Hydra's override parser with every function outside DETERMINISTIC_FUNCTIONS replaced by a refusal."""
    parser = parser_class.create()
    table = parser.functions.functions  # name -> callable; the signatures Hydra checks arguments against stay
    for name in list(table):
        if name not in DETERMINISTIC_FUNCTIONS:
            table[name] = _refuse(name)
    return parser


def _plain(value):
    """Hydra's parsed values hold its own containers; keep plain Python data only."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class _Composer:
    def __init__(self, spec_path: Path, overrides: list[Override]):
        self.spec_dir = spec_path.parent
        self.search = [self.spec_dir]
        catalog = catalog_dir().resolve()
        if catalog != self.spec_dir.resolve():
            self.search.append(catalog)
        self.group_overrides = {o.key: o for o in overrides if "." not in o.key and self.is_group(o.key)}
        self.data: dict = {}
        self.origins: dict[tuple, Origin] = {}
        self.choices: dict[str, str | None] = {}
        self.stack: list[str] = []

    def is_group(self, name: str) -> bool:
        return bool(_NAME.match(name)) and any((d / name).is_dir() for d in self.search)

    def find(self, rel: str, cited: Loc, what: str) -> Path:
        """``rel`` (``group/option`` or ``name``) as a .yaml file in the search path, never outside it."""
        parts = rel.split("/")
        if not all(_NAME.match(p) and p not in (".", "..") for p in parts):
            raise SpecError(f"{what} '{rel}' is not a valid name (letters, digits, '_', '-', '.')", cited)
        for root in self.search:
            candidate = (root / (rel + ".yaml"))
            if candidate.is_file():
                if root.resolve() not in candidate.resolve().parents:
                    raise SpecError(f"{what} '{rel}' is a link to {candidate.resolve()}, outside "
                                    f"{root.resolve()}: config groups stay in the spec's folder or the catalog",
                                    cited)
                return candidate
        options = sorted({p.stem for root in self.search for p in (root / Path(rel).parent).glob("*.yaml")})
        where = " or ".join(str(r) for r in self.search)
        listing = f"; options: {', '.join(options)}" if options and len(options) <= 20 else ""
        raise SpecError(f"no {what} '{rel}' in {where}{did_you_mean(Path(rel).name, options)}{listing}", cited)

    def compose_file(self, located: Located, package: tuple, origin_kind: str, detail: str):
        key = str(Path(located.file).resolve())
        if key in self.stack:
            raise SpecError(f"defaults cycle: {located.file} includes itself", Loc(located.file))
        self.stack.append(key)
        data = dict(located.data)
        defaults = data.pop("defaults", None)
        entries = self.parse_defaults(defaults, located) if defaults is not None else []
        if not any(e[0] == "_self_" for e in entries):
            entries.append(("_self_", None, None, None))
        for kind, name, option, loc in entries:
            if kind == "_self_":
                self.merge(package, data, (), located, origin_kind, detail)
            elif kind == "file":
                path = self.find(name, loc, "spec")
                self.compose_file(load_yaml_file(path, loc), package, "spec", f"via defaults in {located.file}")
            else:
                group, pkg = name
                override = self.group_overrides.get(group)
                if override is not None:
                    override.used = True
                    if override.kind == "delete":
                        option = None
                    else:
                        option, loc = override.value, override.loc
                self.include_group(group, pkg, option, loc)
        self.stack.pop()

    def include_group(self, group: str, pkg: str | None, option, loc: Loc):
        self.choices[group] = option
        if option is None:
            return
        if not isinstance(option, str):
            raise SpecError(f"config group '{group}' takes an option name, not {option!r}", loc)
        path = self.find(f"{group}/{option}", loc, f"option of config group '{group}':")
        located = load_yaml_file(path, loc)
        target = pkg or located.package or f"blocks.{group}"
        package = () if target == "_global_" else tuple(target.replace("_group_", group).split("."))
        self.compose_file(located, package, "group", f"{group}={option}")

    def parse_defaults(self, defaults, located: Located):
        loc0 = located.locs.get(("defaults",), Loc(located.file))
        if not isinstance(defaults, list):
            raise SpecError("'defaults' must be a list", loc0)
        entries = []
        for i, entry in enumerate(defaults):
            loc = located.locs.get(("defaults", i), loc0)
            if entry == "_self_":
                entries.append(("_self_", None, None, loc))
            elif isinstance(entry, str):
                entries.append(("file", entry, None, loc))
            elif isinstance(entry, dict) and len(entry) == 1:
                (key, option), = entry.items()
                words = key.split()
                if len(words) == 2 and words[0] in ("optional", "override"):
                    key = words[1]
                group, _, pkg = key.partition("@")
                entries.append(("group", (group, pkg or None), option, loc))
            else:
                raise SpecError("a defaults entry is '_self_', a spec name or 'group: option'", loc)
        return entries

    def merge(self, package: tuple, src, src_path: tuple, located: Located, kind: str, detail: str):
        """Merge ``src`` at ``package``: mappings merge key by key, anything else replaces."""
        loc = located.locs.get(src_path, Loc(located.file))
        if package:
            parent = self.data
            for depth, key in enumerate(package[:-1]):
                if not isinstance(parent.get(key), dict):
                    parent[key] = {}
                    self.origins.setdefault(package[: depth + 1], Origin(kind, loc, detail))
                parent = parent[key]
            _merge_value(parent, package[-1], src, package, self.origins,
                         lambda p: Origin(kind, located.locs.get(src_path + p[len(package):], loc), detail))
        else:
            for key, value in src.items():
                _merge_value(self.data, key, value, (key,), self.origins,
                             lambda p: Origin(kind, located.locs.get(src_path + p, loc), detail))


def _merge_value(parent: dict, key, value, path: tuple, origins: dict, origin_of):
    old = parent.get(key)
    if isinstance(old, dict) and isinstance(value, dict):
        origins.setdefault(path, origin_of(path))
        for k, v in value.items():
            _merge_value(old, k, v, path + (k,), origins, origin_of)
        return
    forget_below(origins, path, old)
    parent[key] = copy.deepcopy(value)
    _record(value, path, origins, origin_of)


def _record(value, path, origins, origin_of):
    origins[path] = origin_of(path)
    if isinstance(value, dict):
        for k, v in value.items():
            _record(v, path + (k,), origins, origin_of)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _record(v, path + (i,), origins, origin_of)


def compose(spec_path: str | Path, overrides: list[str] | None = None) -> Composed:
    """Load ``spec_path``, apply its defaults list and ``overrides``; nothing is resolved yet."""
    spec_path = Path(spec_path)
    parsed = parse_overrides(list(overrides or []))
    composer = _Composer(spec_path, parsed)
    located = load_yaml_file(spec_path)
    composer.compose_file(located, (), "spec", "")
    # '+group=option' for a group the defaults list does not name
    for ov in parsed:
        if ov.key in composer.group_overrides and not ov.used:
            if ov.kind == "delete":
                raise SpecError(f"bad override '{ov.text}': config group '{ov.key}' is not in the defaults", ov.loc)
            if ov.kind == "change":
                raise SpecError(f"bad override '{ov.text}': config group '{ov.key}' is not in the defaults "
                                f"list; use '+{ov.text}' to add it", ov.loc)
            ov.used = True
            composer.include_group(ov.key, None, ov.value, ov.loc)
    for ov in parsed:
        if not ov.used:
            _apply_value_override(composer, ov)
    return Composed(composer.data, composer.origins, str(spec_path), [o.text for o in parsed], composer.choices)


def _apply_value_override(composer: _Composer, ov: Override):
    keys = tuple(ov.key.split("."))
    parent = composer.data
    for depth, key in enumerate(keys[:-1]):
        child = parent.get(key)
        if not isinstance(child, dict):
            if ov.kind in ("add", "force") and child is None:
                parent[key] = child = {}
                composer.origins[keys[: depth + 1]] = Origin("override", ov.loc, ov.text)
            else:
                raise SpecError(f"bad override '{ov.text}': no key '{'.'.join(keys[: depth + 1])}' in the spec"
                                f"{_did_you_mean_key(keys[:depth], key, parent)}", ov.loc)
        parent = child
    last = keys[-1]
    exists = last in parent
    if ov.kind == "delete":
        if not exists:
            raise SpecError(f"bad override '{ov.text}': no key '{ov.key}' to delete"
                            f"{_did_you_mean_key(keys[:-1], last, parent)}", ov.loc)
        forget_below(composer.origins, keys, parent.pop(last))
        composer.origins.pop(keys, None)
        return
    if ov.kind == "change" and not exists:
        raise SpecError(f"bad override '{ov.text}': no key '{ov.key}' in the spec"
                        f"{_did_you_mean_key(keys[:-1], last, parent)}; use '+{ov.text}' to add one", ov.loc)
    if ov.kind == "add" and exists:
        raise SpecError(f"bad override '{ov.text}': '{ov.key}' already exists; use '{ov.text[1:]}' to change it",
                        ov.loc)
    old = parent.get(last)
    if (exists and isinstance(old, (int, float)) and isinstance(ov.value, str) and "${" not in ov.value
            and "${" not in str(old)):
        # 'vars.n_layers=abc' would otherwise fail later at whatever spec line uses it, far from the typo
        kind = "true or false" if isinstance(old, bool) else "a number"
        raise SpecError(f"bad override '{ov.text}': '{ov.key}' is {kind} in the spec ({old!r}), not a string",
                        ov.loc)
    forget_below(composer.origins, keys, old)
    parent[last] = ov.value
    _record(ov.value, keys, composer.origins, lambda p: Origin("override", ov.loc, ov.text))


def _did_you_mean_key(prefix: tuple, key: str, siblings) -> str:
    """`` (did you mean 'vars.d_model'?)``: the closest sibling of ``key``, as a full dotted path."""
    return did_you_mean(key, siblings, "".join(f"{p}." for p in prefix))
