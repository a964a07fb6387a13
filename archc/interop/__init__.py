"""Interoperability with HuggingFace ``transformers``.

* :mod:`archc.interop.registry`: the families archc imports, one line each; a family's module in
  :mod:`archc.interop.families` holds everything about it (:class:`archc.interop.family.Family`).
* :mod:`archc.interop.import_hf`: a ``config.json`` of one of those families -> a small spec extending the
  catalog's spec of the family (``archc import-hf``). Pure Python: no torch, no transformers.
* :mod:`archc.interop.hf`: state dicts both ways between a generated model and the family's transformers
  model (``load_hf_weights``, ``to_hf_state_dict``; imports torch when called).
"""
