"""Lint rules, one per module, named after the rule (``post_norm_deep_stack.py``). See ``archc.lint``."""
