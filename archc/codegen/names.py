"""Every string from a spec that reaches generated code passes through this module.

* Identifiers: one :class:`Namespace` per generated file (globals: classes) and one per function (locals),
  seeded with every name the templates define, so a block named ``attention`` or a node named ``silu_mul``
  cannot shadow ``Attention`` or ``silu_mul()``. What the templates define is read from them, not listed
  here: the top-level names of each support file (parsed with ``ast``) and the ``defines`` list the model
  template declares (its imports, classes and methods). A spec name that is not a plain identifier (the
  loader should refuse it; ``"a\\n"`` once got through a ``$``-anchored regex) is made one here rather than
  written into code.
* Text: :func:`comment` for ``#`` comments, :func:`docstring` for text inside ``\"\"\"...\"\"\"``,
  :func:`string` for string literals. Nothing else writes spec text into the file.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
from functools import cache

# attributes of torch.nn.Module (torch 2.x) that a submodule must not shadow; kept literal so that
# generating code never imports torch
MODULE_ATTRS = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu
load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to
to_empty train training type xpu zero_grad
""".split())

_NOT_IDENT = re.compile(r"\W", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def identifier(name: str) -> str:
    """``name`` as a plain ASCII identifier: other characters become ``_`` (``'a\\n'`` -> ``'a_'``)."""
    text = _NOT_IDENT.sub("_", str(name)) or "v"
    return f"v{text}" if text[0].isdigit() else text


# l, O and I read as 1 and 0: ruff's E741 refuses them as local names, and generated files pass ruff
_AMBIGUOUS = frozenset({"l", "O", "I"})


def _bad(name: str) -> bool:
    return keyword.iskeyword(name) or keyword.issoftkeyword(name) or name.startswith("_") \
        or hasattr(builtins, name) or name in _AMBIGUOUS


class Namespace:
    """Hands out distinct identifiers: ``take('attn')`` -> 'attn', then 'attn_', 'attn_1', ..."""

    def __init__(self, reserved=()):
        self.used: set[str] = set(reserved)

    def take(self, wanted: str) -> str:
        wanted = identifier(wanted)
        name = wanted
        if _bad(name) or name in self.used:
            name = f"{wanted.lstrip('_') or 'v'}_"
        base, i = name, 1
        while name in self.used or _bad(name):
            name = f"{base}{i}"
            i += 1
        self.used.add(name)
        return name


class Attrs:
    """Submodule attribute names inside one generated class: the spec name unless Python, nn.Module or
    the model template (``tie_weights``) needs it."""

    def __init__(self, reserved=()):
        self.taken: set[str] = set()
        self.reserved = MODULE_ATTRS | set(reserved)

    def take(self, name: str) -> str:
        attr = identifier(name)
        if keyword.iskeyword(attr) or keyword.issoftkeyword(attr) or attr.startswith("_") or attr in self.reserved:
            attr = f"{attr}_"
        while attr in self.taken:
            attr += "_"
        self.taken.add(attr)
        return attr


def class_name(block: str) -> str:
    """``layer`` -> ``Layer``, ``gelu_mlp`` -> ``GeluMlp``."""
    return "".join(part[:1].upper() + part[1:] for part in identifier(block).split("_") if part) or "Block"


# -- text --------------------------------------------------------------------------------------------------


def comment(text) -> str:
    """Text for one ``#`` comment line: control characters (newlines included) become spaces."""
    return _CONTROL.sub(" ", str(text))


def docstring(text) -> str:
    """Text for inside a triple-quoted docstring: one line, backslashes and quotes escaped, so neither a
    trailing backslash nor a quote next to the closing quotes can end the string early."""
    return comment(text).replace("\\", "\\\\").replace('"', '\\"')


def string(text) -> str:
    """A double-quoted string literal (ruff format's quotes) whose value is ``text`` exactly."""
    body = str(text).encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return f'"{body}"'


# -- what the templates define -----------------------------------------------------------------------------


class _Everything:
    """A ``features`` value that contains every feature: renders a support file with all its branches."""

    def __contains__(self, item) -> bool:
        return True

    def __iter__(self):
        return iter(())


def top_level_names(code: str) -> set[str]:
    """Names a Python file defines at module level (classes, functions, assignments, imports)."""
    names = set()
    for node in ast.parse(code).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def names_used(code: str) -> set[str]:
    """Every bare name a piece of generated code reads (``F`` in ``F.silu(x)``): how a piece says which
    imports it needs, without a second rendering of the file."""
    import textwrap

    tree = ast.parse(textwrap.dedent(code))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


@cache
def template_defines(env) -> tuple[frozenset, frozenset]:
    """(module-level names, Model attribute names) that the templates define."""
    from jinja2 import nodes

    from archc.paths import data_dir, templates_dir

    globals_, members = set(), set()
    source = (templates_dir() / "model.py.j2").read_text(encoding="utf-8")
    for assign in env.parse(source).find_all(nodes.Assign):
        if isinstance(assign.target, nodes.Name) and assign.target.name == "defines":
            declared = assign.node.as_const()
            globals_.update(declared["globals"])
            members.update(declared["members"])
    for path in sorted((templates_dir() / "support").glob("*.py.j2")):
        kernels = sorted(p.stem for p in data_dir("kernels").glob("*.py") if p.stem != "__init__")
        text = env.get_template(f"support/{path.name}").render(features=_Everything(), kernels=kernels)
        globals_ |= top_level_names(text)
    return frozenset(globals_), frozenset(members)


__all__ = ["Namespace", "Attrs", "identifier", "class_name", "comment", "docstring", "string", "names_used",
           "template_defines", "top_level_names", "MODULE_ATTRS"]
