"""Run the random-spec property (tests/random_specs.py) for many examples, offline, and keep what fails.

    python scripts/fuzz_specs.py 20000                      # every feature of the generator
    python scripts/fuzz_specs.py 5000 --exclude ties,reuse  # without some (see FEATURES)
    python scripts/fuzz_specs.py 2000 --seed 7 --out /tmp/fuzz --no-ruff
    python scripts/fuzz_specs.py 20000 --stable             # what make test checks, for longer

Unlike the bounded test, it does not stop at the first failure: it groups failures by signature (the check
that failed and its message with names and numbers taken out), shrinks the smallest example of each group
by deleting parts of the spec while the same signature persists, and writes ``OUT/<n>-<stage>.yaml`` with the
failure on line 1, ready to review and copy into tests/regressions/. ``ruff check`` runs on the generated
files in batches (one process per few hundred files, not one per example). Prints the loader's refusal
rate: the generator should produce specs the loader accepts.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from archc.errors import SpecError  # noqa: E402
from tests.random_specs import FEATURES, STATS, CheckFailed, check_spec, loaded_specs, signature  # noqa: E402

RUFF = [sys.executable, "-m", "ruff", "check", "--no-cache", "--line-length", "120", "--select", "E,F,W,I,B,UP",
        "--output-format", "json"]


def failure_of(path: Path, ruff: bool) -> str | None:
    """The signature of the first failed check on the spec at ``path``, None if it passes or does not load."""
    try:
        check_spec(path, ruff=ruff)
    except CheckFailed as exc:
        return signature(exc)
    except SpecError:
        return None
    except Exception as exc:  # noqa: BLE001 - the loader itself crashed: a finding too
        return f"[load] {type(exc).__name__}"
    return None


def _parts(tree, path=()):
    """Paths of everything that can be deleted: mapping entries and list items, deepest first."""
    out = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.extend(_parts(v, path + (k,)))
            out.append(path + (k,))
    elif isinstance(tree, list):
        for i in reversed(range(len(tree))):
            out.extend(_parts(tree[i], path + (i,)))
            out.append(path + (i,))
    return out


def _without(tree, path):
    new = copy.deepcopy(tree)
    parent = new
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return new


def shrink(text: str, sig: str, folder: Path, ruff: bool, budget_s: float = 60.0) -> str:
    """Delete parts of the spec (biggest first) while it still fails with ``sig``; the smallest found."""
    tree = yaml.safe_load(text)
    path = folder / "shrink.yaml"
    deadline = time.monotonic() + budget_s
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        # input shapes keep their rank: a rank-0 or rank-1 input makes a different failure, not a smaller one
        parts = [p for p in _parts(tree) if not (len(p) >= 3 and p[0] == "inputs" and p[2] == "shape")]
        for part in sorted(parts, key=len):
            if time.monotonic() > deadline:
                break
            try:
                candidate = _without(tree, part)
            except (KeyError, IndexError, TypeError):
                continue
            path.write_text(yaml.safe_dump(candidate, sort_keys=False, allow_unicode=True, width=1000))
            if failure_of(path, ruff and sig.startswith("[ruff]")) == sig:
                tree = candidate
                changed = True
                break
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, width=1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, help="examples to run")
    parser.add_argument("--exclude", default="", help=f"features to leave out, comma-separated: {', '.join(FEATURES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "archc-fuzz"))
    parser.add_argument("--no-ruff", action="store_true")
    parser.add_argument("--max-nodes", type=int, default=6)
    parser.add_argument("--shrink-seconds", type=float, default=60.0)
    parser.add_argument("--shrink-only", action="store_true", help="shrink what OUT/state.json holds; run nothing")
    parser.add_argument("--stable", action="store_true",
                        help="leave out what the bounded test does (FEATURES_BROKEN, VALUES_BROKEN in "
                             "tests/test_random_specs.py): what make test would find with more examples")
    args = parser.parse_args()
    if args.shrink_only:
        return shrink_all(Path(args.out), Path(tempfile.mkdtemp(prefix="archc-fuzz-work-")), not args.no_ruff,
                          args.shrink_seconds)
    excluded = {f for f in args.exclude.split(",") if f}
    unknown = excluded - set(FEATURES)
    if unknown:
        parser.error(f"unknown features {sorted(unknown)}; known: {', '.join(FEATURES)}")
    avoid: frozenset = frozenset()
    if args.stable:
        from tests.test_random_specs import FEATURES_BROKEN, VALUES_BROKEN

        excluded |= set(FEATURES_BROKEN)
        avoid = frozenset(VALUES_BROKEN)
    features = frozenset(FEATURES) - excluded
    out = Path(args.out)
    (out / "sources").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="archc-fuzz-work-"))
    counts: Counter = Counter()
    smallest: dict[str, str] = {}
    pending: dict[str, str] = {}  # generated file -> spec text, waiting for the next ruff batch
    done = [0]
    started = time.monotonic()

    def record(sig: str, text: str):
        counts[sig] += 1
        if sig not in smallest or len(text) < len(smallest[sig]):
            smallest[sig] = text

    def save_state():  # so a run stopped early keeps what it found: --shrink-only OUT shrinks it later
        (out / "state.json").write_text(json.dumps({"examples": done[0], "stats": {
            k: v for k, v in STATS.items() if k != "refusals"}, "refusals": dict(STATS["refusals"]),
            "counts": dict(counts), "smallest": smallest}, indent=1))

    def ruff_batch():
        if not pending:
            return
        result = subprocess.run(RUFF + sorted(pending), capture_output=True, text=True)
        seen = set()
        for finding in json.loads(result.stdout or "[]"):
            file = finding["filename"]
            if file in seen:
                continue
            seen.add(file)
            # names and numbers out of the message: F841 on `n0` and on `n4` is one kind of failure
            message = re.sub(r"`[^`]*`", "`_`", re.sub(r"\d+", "N", finding["message"]))
            record(f"[ruff] {finding['code']} {message[:80]}", pending[file])
        for file in pending:
            Path(file).unlink()
        pending.clear()

    @settings(max_examples=args.n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(args.seed)
    @given(loaded_specs(features, args.max_nodes, work, avoid=avoid))
    def run(drawn):
        path, text = drawn
        done[0] += 1
        try:
            source = check_spec(path, ruff=False)
        except CheckFailed as exc:
            record(signature(exc), text)
            return
        except Exception as exc:  # noqa: BLE001
            record(f"[load] {type(exc).__name__}: {signature(exc)}", text)
            return
        if not args.no_ruff:
            file = out / "sources" / f"m{done[0]}.py"
            file.write_text(source)
            pending[str(file)] = text
            if len(pending) >= 300:
                ruff_batch()
        if done[0] % 100 == 0:
            save_state()
            print(f"{done[0]:,} examples, {sum(counts.values()):,} failures in {len(counts)} kinds, "
                  f"{time.monotonic() - started:.0f} s", flush=True)

    run()
    ruff_batch()
    save_state()
    elapsed = time.monotonic() - started
    drawn = STATS["drawn"]
    print(f"\n{done[0]:,} examples checked in {elapsed:.0f} s; the loader refused {STATS['refused']:,} of {drawn:,} "
          f"drawn specs ({STATS['refused'] / max(drawn, 1):.1%}) and {STATS['tie_refused']:,} tie additions")
    for sig, n in STATS["refusals"].most_common(10):
        print(f"  refused {n:>5}  {sig}")
    return shrink_all(out, work, not args.no_ruff, args.shrink_seconds)


def shrink_all(out: Path, work: Path, ruff: bool, seconds: float) -> int:
    state = json.loads((out / "state.json").read_text())
    counts = Counter(state["counts"])
    print(f"{sum(counts.values()):,} failures in {len(counts)} kinds (of {state['examples']:,} examples):")
    for i, (sig, n) in enumerate(counts.most_common()):
        print(f"  {n:>5}  {sig}", flush=True)
        small = shrink(state["smallest"][sig], sig, work, ruff, seconds)
        stage = sig.split("]")[0].strip("[")
        (out / f"{i:02d}-{stage}.yaml").write_text(f"# {sig}\n{small}")
    print(f"shrunk examples in {out}")
    return 1 if counts else 0


if __name__ == "__main__":
    sys.exit(main())
