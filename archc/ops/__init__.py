"""Ops: one module per op, registered in :mod:`archc.ops.registry`."""
