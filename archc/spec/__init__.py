"""Reading specs: YAML with source locations, composition of config groups, overrides, resolution."""
