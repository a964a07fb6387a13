"""One allocator for every identifier the generated file uses, so names never collide.

Spec names are already validated identifiers (archc/passes/expand.py). What can still go wrong: a node
named like a Python keyword (``class``), a builtin the generated code uses (``torch``, ``F``), or an
attribute nn.Module itself defines (``forward``, ``to``, ``training``). Those get a trailing underscore.
"""

from __future__ import annotations

import builtins
import keyword

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
to_empty train training type xpu zero_grad reset_parameters config
""".split())

RESERVED_GLOBALS = frozenset({"torch", "nn", "F", "math", "dataclass", "field", "self", "config", "Config",
                              "Model", "annotations"})


def _bad(name: str) -> bool:
    return keyword.iskeyword(name) or keyword.issoftkeyword(name) or name.startswith("_")


class Namespace:
    """Hands out distinct identifiers: ``take('attn')`` -> 'attn', then 'attn_1', ..."""

    def __init__(self, reserved=()):
        self.used: set[str] = set(reserved)

    def take(self, wanted: str) -> str:
        name = wanted
        if _bad(name) or name in self.used or hasattr(builtins, name):
            name = f"{wanted.lstrip('_') or 'v'}_"
        base, i = name, 1
        while name in self.used or _bad(name) or hasattr(builtins, name):
            name = f"{base}{i}"
            i += 1
        self.used.add(name)
        return name


def module_attr(name: str, taken: set[str]) -> str:
    """The attribute under which a submodule lives: the node name unless Python or nn.Module forbids it."""
    attr = name
    if _bad(attr) or attr in MODULE_ATTRS:
        attr = f"{name}_"
    while attr in taken:
        attr += "_"
    taken.add(attr)
    return attr


def class_name(block: str) -> str:
    """``layer`` -> ``Layer``, ``gelu_mlp`` -> ``GeluMlp``."""
    return "".join(part[:1].upper() + part[1:] for part in block.split("_") if part) or "Block"
