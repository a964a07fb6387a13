"""One module per HuggingFace family (its ``FAMILY``: config keys, weight map, test configs); the table of
families is :mod:`archc.interop.registry`."""
