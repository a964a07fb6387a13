"""The dependency order of one scope's nodes, without recursion.

A depth-first post-order over the nodes as listed, each node's dependencies in the order its ``in:`` names
them: for a scope already in order (the usual case) this is the listed order, so generated code follows the
spec. An explicit stack keeps it linear in nodes plus edges and independent of Python's recursion limit (a
chain of 3,000 nodes listed last-first used to end in a RecursionError).
"""

from __future__ import annotations

from collections.abc import Callable


def dependency_order(names: list[str], deps: dict[str, list[str]], on_cycle: Callable[[list[str]], None]) -> list:
    """``names`` with every node after its dependencies; ``on_cycle(['a', 'b', 'a'])`` raises on a cycle."""
    state: dict[str, int] = {}  # 1: on the current path, 2: placed
    done: list[str] = []
    for root in names:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(deps[root]))]
        while stack:
            name, pending = stack[-1]
            for dep in pending:
                seen = state.get(dep)
                if seen == 2:
                    continue
                if seen == 1:  # only on a cycle: the path is walked once, to name it
                    path = [n for n, _ in stack]
                    on_cycle(path[path.index(dep):] + [dep])
                state[dep] = 1
                stack.append((dep, iter(deps[dep])))
                break
            else:
                stack.pop()
                state[name] = 2
                done.append(name)
    return done
