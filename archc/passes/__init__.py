"""IR passes, one per module: expand, infer_shapes, count. Each writes its results to ``Node.meta``."""
