"""The intermediate representation: a networkx graph of :class:`~archc.ir.graph.Node` objects."""
