"""archc's Triton kernels (see README.md). A regular package, not a namespace one: an installed package of
the same name (Hugging Face's `kernels`, which transformers can use) would otherwise win the import."""
