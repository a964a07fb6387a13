"""Regenerate tests/golden/<spec>.py for every spec in specs/, and tests/golden/triton/<spec>.py for the specs
in TRITON_GOLDEN (run from anywhere: `make golden`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRITON_GOLDEN = ("llama",)  # tests/golden/triton/<spec>.py, built with --backend triton


def main() -> int:
    os.chdir(ROOT)  # the specs are listed from specs/; generated files do not depend on the cwd
    from archc.codegen.pytorch import build_source
    from archc.pipeline import load_spec

    golden = ROOT / "tests" / "golden"
    golden.mkdir(parents=True, exist_ok=True)
    specs = sorted(Path("specs").glob("*.yaml"))
    for spec in specs:
        target = golden / f"{spec.stem}.py"
        source = build_source(load_spec(spec))
        changed = not target.exists() or target.read_text() != source
        target.write_text(source)
        print(f"{'updated' if changed else 'same   '} {target.relative_to(ROOT)}")
    # --backend triton: one spec, the one whose every kernel row applies (attention, swiglu, rmsnorm)
    from archc.passes.rewrite import relower

    (golden / "triton").mkdir(exist_ok=True)
    for stem in TRITON_GOLDEN:
        target = golden / "triton" / f"{stem}.py"
        loaded = load_spec(Path("specs") / f"{stem}.yaml")
        relower(loaded.ir, "triton")
        source = build_source(loaded)
        changed = not target.exists() or target.read_text() != source
        target.write_text(source)
        print(f"{'updated' if changed else 'same   '} {target.relative_to(ROOT)}")
    for stale in golden.glob("*.py"):
        if not (Path("specs") / f"{stale.stem}.yaml").exists():
            stale.unlink()
            print(f"removed {stale.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
