"""Lowering the IR to source code. ``pytorch`` renders standalone PyTorch through jinja2 templates."""
