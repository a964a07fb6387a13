"""Interoperability with HuggingFace ``transformers``.

* :mod:`archc.interop.import_hf`: a ``config.json`` of the GPT-2 or LLaMA family -> a small spec extending
  the catalog's ``gpt2`` or ``llama`` (``archc import-hf``). Pure Python: no torch, no transformers.
* :mod:`archc.interop.hf`: state dicts both ways between a generated model and the matching
  ``GPT2LMHeadModel`` / ``LlamaForCausalLM`` (imports torch when called).
"""
