"""PyTorch code generation: IR -> one standalone Python file, through the jinja2 templates in templates/.

``build_source(spec)`` returns the file as a string (no torch import); ``build_module(spec)`` executes it
and returns a ``Model`` instance (imports torch). The file starts with a header naming the spec, the
overrides, a hash of the resolved spec and a hash of the whole file (archc.codegen.protect), so
``archc build`` can refuse to overwrite a file a person has edited.
"""

from __future__ import annotations

import hashlib
import os
import sys
import types
from pathlib import Path

from archc import __version__
from archc.codegen.lower import ClassPlan, Lowering, comment_text, literal
from archc.codegen.protect import HEADER_PREFIX, body_hash, is_edited, split_header, stamp
from archc.errors import Loc, SpecError, display_path
from archc.ir.dims import fmt
from archc.ops.registry import OPS
from archc.paths import catalog_dir, templates_dir

_env = None


def environment():
    """The jinja2 environment (created on first use: jinja2 is not imported at start-up)."""
    global _env
    if _env is None:
        import jinja2

        _env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), autoescape=False,
                                  trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                                  undefined=jinja2.StrictUndefined)
        _env.filters["lit"] = literal
        _env.filters["shape"] = lambda s: "(" + fmt(s)[1:-1] + ")"
        _env.filters["member"] = _member_line
        _env.filters["typed"] = lambda plan: ", ".join(f"{a}: {t}" for a, t in zip(plan.args, plan.arg_types,
                                                                                    strict=True))
    return _env


def _member_line(m) -> str:
    line = f"        self.{m.attr} = {m.expr}"
    comment = f"  # {comment_text(m.comment)}" if m.comment else ""
    if len(line + comment) <= 120:
        return line + comment
    above = f"        # {comment_text(m.comment)}\n" if m.comment else ""
    return above + (line if len(line) <= 120 else wrap_call(line, "        "))


def wrap_call(line: str, indent: str) -> str:
    """Break ``x = f(a, b=c)`` into one argument per line, as ruff format would."""
    head, _, rest = line.partition("(")
    assert rest.endswith(")")
    args, depth, current = [], 0, ""
    for ch in rest[:-1]:
        if ch == "," and depth == 0:
            args.append(current.strip())
            current = ""
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        current += ch
    if current.strip():
        args.append(current.strip())
    inner = "".join(f"{indent}    {a},\n" for a in args)
    return f"{head}(\n{inner}{indent})"


def op_templates() -> dict:
    env = environment()
    out = {}
    for name in OPS:
        path = Path(templates_dir()) / "ops" / f"{name}.j2"
        if path.is_file():
            out[name] = env.get_template(f"ops/{name}.j2")
    from archc.codegen.fusions import FUSIONS

    for fusion in FUSIONS:
        out[f"fused/{fusion.template}"] = env.get_template(f"fused/{fusion.template}.j2")
    return out


def source_name(loc: Loc, what: str = "") -> str:
    """'specs/llama.yaml:31 attn': relative to the working directory, or to the catalog, never absolute."""
    file = loc.file
    shown = display_path(file)
    if os.path.isabs(shown):
        try:
            shown = "archc:specs/" + Path(file).resolve().relative_to(catalog_dir().resolve()).as_posix()
        except ValueError:
            shown = Path(file).name
    text = f"{shown}:{loc.line}"
    return comment_text(f"{text} {what}".strip())


def _config_fields(variables: dict) -> list[dict]:
    from archc.codegen.names import Namespace

    names = Namespace({"config"})
    fields = []
    for name, value in variables.items():
        kind = {bool: "bool", int: "int", float: "float", str: "str"}.get(type(value))
        if kind is None:
            kind = "object"
            value = None  # lists and mappings stay in the spec; the modules carry the sizes
        fields.append({"name": names.take(name), "type": kind, "value": literal(value)})
    return fields


def render(spec) -> str:
    """The generated file's text for a loaded spec (``archc.pipeline.Spec``)."""
    ir = spec.ir
    lowering = Lowering(ir, op_templates(), source_name)
    model: ClassPlan = lowering.model()
    ties = lowering.ties()
    init_lines = lowering.init_lines()
    support = []
    for op in OPS:
        if op in lowering.ops_used:
            name = getattr(lowering.templates[op].module, "support", None)
            if name and name not in support:
                support.append(name)
    for name in lowering.fused_used:
        fused_support = getattr(lowering.templates[f"fused/{name}"].module, "support", None)
        if fused_support and fused_support not in support:
            support.append(fused_support)
    if "attention" in support and "rope" in support:  # apply_rope is defined beside RotaryTables, before use
        support.remove("rope")
        support.insert(support.index("attention"), "rope")
    spec_name = source_name(Loc(spec.path), "").rsplit(":", 1)[0]
    first_param = next((f"{n.key}.{p}" for n in ir.nodes() for p in n.meta["params"]), "none")
    context = {
        "title": comment_text(f"{Path(spec.path).stem}: generated by archc from {spec_name}"),
        "version": __version__,
        "spec": spec_name,
        "example_key": first_param,
        "config_fields": _config_fields(ir.info["vars"]),
        "support": support,
        "features": sorted(lowering.features),
        "classes": lowering.classes,
        "model": model,
        "ties": ties,
        "init_lines": init_lines,
        "has_default_init": bool(ir.info.get("default_init")),
        "tie_owner_resets": lowering.tie_owner_resets(),
        "table_classes": [cls for name, cls in (("rope", "RotaryTables"), ("sinusoidal", "SinusoidalPositions"))
                          if name in support],
        "n_outputs": len(ir.info["outputs"]),
        "uses_math": False,
        "uses_f": True,
    }
    env = environment()
    body = env.get_template("model.py.j2").render(**context)
    context["uses_math"] = "math." in body
    context["uses_f"] = "F." in body
    body = env.get_template("model.py.j2").render(**context)
    return stamp(_header_lines(spec), body)


def header(spec, body: str) -> str:
    """The file's header for ``body``, ending with its whole-file hash (archc.codegen.protect)."""
    return stamp(_header_lines(spec), body)[:-len(body) or None]


def _header_lines(spec) -> list[str]:
    overrides = " ".join(spec.overrides) if spec.overrides else "(none)"
    spec_name = source_name(Loc(spec.path), "").rsplit(":", 1)[0]
    return [
        f"{HEADER_PREFIX} {__version__} from {spec_name}. Edit freely: archc build will not overwrite this",
        "# file once any line of it no longer matches file-sha256 (use --force to regenerate anyway).",
        f"# spec: {spec_name}",
        f"# overrides: {comment_text(overrides)}",
        f"# spec-hash: {spec.resolved_hash}",
    ]


def state_dict_names(spec) -> dict[str, str]:
    """IR parameter key (scope + parameter name) -> the key in the generated model's state dict.

    The two are equal unless a node is named like a Python keyword or an nn.Module attribute.
    """
    ir = spec.ir
    lowering = Lowering(ir, op_templates(), source_name)
    lowering.model()
    names = {}
    for node in ir.nodes():
        params = list(node.meta["params"]) + list(node.meta.get("tied", {}))
        for param in params:
            names[f"{node.key}.{param}"] = f"{lowering.state_path(node.key)}.{param}"
    return names


def build_source(spec) -> str:
    """Standalone PyTorch source for ``spec`` (an ``archc.pipeline.Spec`` or a path to a spec file)."""
    if isinstance(spec, (str, os.PathLike)):
        from archc.pipeline import load_spec

        spec = load_spec(spec)
    return render(spec)


def load_source(source: str, name: str = "archc_generated") -> types.ModuleType:
    """Execute generated source as a module (registered in sys.modules so dataclasses and pickling work)."""
    import linecache

    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    module_name = f"{name}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    filename = f"<archc-generated {module_name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(module_name)
    module.__file__ = filename
    sys.modules[module_name] = module
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own generated code
    return module


def build_module(spec):
    """An instance of the generated ``Model`` for ``spec`` (imports torch)."""
    return load_source(build_source(spec)).Model()


__all__ = ["build_source", "build_module", "render", "header", "is_edited", "split_header", "body_hash", "load_source",
           "HEADER_PREFIX", "SpecError"]
