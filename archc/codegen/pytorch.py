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
from archc.codegen.init import Paths, init_lines, tie_lines, tie_owner_resets
from archc.codegen.lower import Lowering, literal
from archc.codegen.names import Namespace, comment, docstring, template_defines
from archc.codegen.protect import HEADER_PREFIX, body_hash, is_edited, split_header, stamp
from archc.errors import Loc, SpecError
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
        _env.filters["shape"] = lambda s: comment("(" + fmt(s)[1:-1] + ")")  # shapes print in comments
        _env.filters["comment"] = comment
        _env.filters["doc"] = docstring
        _env.filters["member"] = _member_line
        _env.filters["typed"] = lambda plan: ", ".join(f"{a}: {t}" for a, t in zip(plan.args, plan.arg_types,
                                                                                    strict=True))
        _env.globals["kernel_source"] = kernel_source
    return _env


KERNEL_IMPORTS = ("math", "torch", "triton", "triton.language as tl")  # all a kernels/ file may import


def kernel_source(name: str) -> str:
    """kernels/<name>.py as the generated file carries it: one source per kernel. Its module docstring
    becomes a comment (what it computes, the paper, its conditions) and its imports move to the file's
    head (the kernel files import only KERNEL_IMPORTS, as tests/kernels/test_kernel_files.py keeps them)."""
    import ast

    from archc.paths import data_dir

    text = (data_dir("kernels") / f"{name}.py").read_text(encoding="utf-8")
    tree = ast.parse(text)
    lines = text.splitlines()
    drop: set[int] = set()
    doc = ast.get_docstring(tree) or ""
    for stmt in tree.body:
        is_doc = stmt is tree.body[0] and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        if is_doc or isinstance(stmt, (ast.Import, ast.ImportFrom)):
            drop.update(range(stmt.lineno - 1, stmt.end_lineno))
    body = [line for i, line in enumerate(lines) if i not in drop]
    while body and not body[0].strip():
        body.pop(0)
    head = [f"# kernels/{name}.py (archc {__version__}), verbatim but for its imports (at the top of this file) "
            "and its docstring:"]
    head += ["# " + line if line else "#" for line in doc.splitlines()]  # docstring lines fit 118 columns
    return "\n".join(head + [""] + body).rstrip() + "\n"


def _member_line(m) -> str:
    line = f"        self.{m.attr} = {m.expr}"
    note = f"  # {comment(m.comment)}" if m.comment else ""
    if len(line + note) <= 120:
        return line + note
    above = f"        # {comment(m.comment)}\n" if m.comment else ""
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
    """op name -> its template; rewrite targets (``fused/silu_mul``) -> theirs."""
    from archc.passes.rewrite import RULES

    env = environment()
    out = {}
    for name in OPS:
        path = Path(templates_dir()) / "ops" / f"{name}.j2"
        if path.is_file():
            out[name] = env.get_template(f"ops/{name}.j2")
    for rule in RULES:
        out[rule.lowers_to] = env.get_template(f"{rule.lowers_to}.j2")
    return out


def spec_root(spec_path: str) -> Path:
    """Where the names in generated comments are relative to: the catalog's parent for a catalog spec
    (``specs/gpt2.yaml``), else the spec's own folder. Never the working directory, so building from
    another folder gives the same file."""
    path = Path(spec_path).resolve()
    catalog = catalog_dir().resolve()
    if path.is_relative_to(catalog):
        return catalog.parent
    return path.parent


def source_name(loc: Loc, what: str = "", root: Path | None = None) -> str:
    """'specs/llama.yaml:31 attn': relative to ``root`` (see :func:`spec_root`; by default the file's own
    folder, or the catalog's parent), never absolute and never depending on the working directory."""
    file = loc.file
    if file.startswith("<"):
        shown = file
    else:
        path = Path(file).resolve()
        base = root if root is not None else spec_root(file)
        shown = path.relative_to(base).as_posix() if path.is_relative_to(base) else path.name
    return comment(f"{shown}:{loc.line} {what}".strip())


def _config_fields(variables: dict) -> list[dict]:
    names = Namespace({"config"})
    fields = []
    for name, value in variables.items():
        kind = {bool: "bool", int: "int", float: "float", str: "str"}.get(type(value))
        if kind is None:
            kind = "object"
            value = None  # lists and mappings stay in the spec; the modules carry the sizes
        fields.append({"name": names.take(name), "type": kind, "value": literal(value)})
    return fields


def lower(spec) -> Lowering:
    """The lowered model of a loaded spec (rewrites applied first if the pipeline has not)."""
    from archc.passes.rewrite import rewrite

    ir = spec.ir
    if "rewrites" not in ir.info:
        rewrite(ir)
    root = spec_root(spec.path)
    lowering = Lowering(ir, op_templates(), lambda loc, what="": source_name(loc, what, root),
                        template_defines(environment()))
    lowering.lower_model()
    return lowering


def _support(lowering: Lowering) -> list[str]:
    """Support files the generated code needs, in a fixed order (the op registry's, then rewrites')."""
    support = []
    for op in OPS:
        if op in lowering.ops_used:
            name = getattr(lowering.templates[op].module, "support", None)
            if name and name not in support:
                support.append(name)
    for target in lowering.rewrites_used:
        name = getattr(lowering.templates[target].module, "support", None)
        if name and name not in support:
            support.append(name)
    if kernels_used(lowering):
        support.append("triton")  # the dispatch helper, kernel-backed modules, then each kernel's source
    if "attention" in support and "rope" in support:  # apply_rope is defined beside RotaryTables, before use
        support.remove("rope")
        support.insert(support.index("attention"), "rope")
    return support


def kernels_used(lowering: Lowering) -> list[str]:
    """The kernels/ files the generated code calls, in the table's order (deterministic output)."""
    from archc.passes.rewrite import RULES

    wanted = set()
    for target in lowering.rewrites_used:
        name = getattr(lowering.templates[target].module, "kernel", None)
        if name:
            wanted.add(name)
    order = [getattr(lowering.templates[r.lowers_to].module, "kernel", None) for r in RULES]
    return [k for i, k in enumerate(order) if k in wanted and k not in order[:i]]


def render(spec) -> str:
    """The generated file's text for a loaded spec (``archc.pipeline.Spec``): rendered once."""
    from archc.codegen.names import names_used

    ir = spec.ir
    lowering = lower(spec)
    where = lowering.where
    env = environment()
    features = sorted(lowering.features)
    support = _support(lowering)
    kernels = kernels_used(lowering)
    support_code = [env.get_template(f"support/{name}.py.j2").render(features=features, kernels=kernels)
                    for name in support]
    support_code = [code for code in support_code if code.strip()]  # a support file only some features need
    ties = tie_lines(lowering, where)
    inits = init_lines(lowering, where)
    resets = tie_owner_resets(lowering, where)
    uses = set(lowering.uses)
    for piece in [*support_code, "\n".join(ties), "\n".join(inits), "\n".join(resets)]:
        if piece.strip():
            uses |= names_used(piece)
    spec_name = source_name(Loc(spec.path), "", spec_root(spec.path)).rsplit(":", 1)[0]
    first_param = next((f"{Paths(lowering).state_path(n.key)}.{p}" for n in ir.nodes() for p in n.meta["params"]),
                       "none")
    context = {
        "title": f"{Path(spec.path).stem}: generated by archc from {spec_name}",
        "version": __version__,
        "spec": spec_name,
        "example_key": first_param,
        "config_fields": _config_fields(ir.info["vars"]),
        "support_code": support_code,
        "classes": lowering.classes,
        "model": lowering.model,
        "ties": ties,
        "init_lines": inits,
        "has_default_init": bool(ir.info.get("default_init")),
        "tie_owner_resets": resets,
        "table_classes": [cls for name, cls in (("rope", "RotaryTables"), ("sinusoidal", "SinusoidalPositions"),
                                                            ("constant", "Constant"))
                          if name in support],
        "n_outputs": len(ir.info["outputs"]),
        "uses_math": "math" in uses,
        "uses_f": "F" in uses,
        "uses_triton": bool(kernels),
    }
    body = env.get_template("model.py.j2").render(**context)
    return stamp(_header_lines(spec), body)


def header(spec, body: str) -> str:
    """The file's header for ``body``, ending with its whole-file hash (archc.codegen.protect)."""
    return stamp(_header_lines(spec), body)[:-len(body) or None]


def _header_lines(spec) -> list[str]:
    overrides = " ".join(spec.overrides) if spec.overrides else "(none)"
    spec_name = source_name(Loc(spec.path), "", spec_root(spec.path)).rsplit(":", 1)[0]
    return [
        f"{HEADER_PREFIX} {__version__} from {spec_name}. Edit freely: archc build will not overwrite this",
        "# file once any line of it no longer matches file-sha256 (use --force to regenerate anyway).",
        f"# spec: {spec_name}",
        f"# overrides: {comment(overrides)}",
        f"# spec-hash: {spec.resolved_hash}",
    ]


def state_dict_names(spec) -> dict[str, str]:
    """IR parameter key (scope + parameter name) -> the key in the generated model's state dict.

    The two are equal unless a name is a Python keyword or an nn.Module attribute (``class`` -> ``class_``).
    """
    ir = spec.ir
    paths = Paths(lower(spec))
    names = {}
    for node in ir.nodes():
        params = list(node.meta["params"]) + list(node.meta.get("tied", {}))
        if params:
            path = paths.state_path(node.key)
            for param in params:
                names[f"{node.key}.{param}"] = f"{path}.{param}"
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
