"""``archc``: the command group. Commands are imported only when run, so ``archc --help`` stays fast."""

from __future__ import annotations

import importlib
import importlib.util
import io
import sys

import click

from archc import __version__

# name -> "module:function", in the order --help lists them
COMMANDS = {
    "show": "archc.cli.show:show",
    "lint": "archc.cli.lint:lint",
    "rule": "archc.cli.rule:rule",
    "build": "archc.cli.build:build",
    "graph": "archc.cli.graph:graph",
    "ir": "archc.cli.ir:ir",
    "explain": "archc.cli.explain:explain",
    "schema": "archc.cli.schema:schema",
    "import-hf": "archc.cli.import_hf:import_hf",
}

SHORT_HELP = {
    "show": "Table of scopes, shapes, parameters and FLOPs.",
    "lint": "Check a spec against design principles.",
    "rule": "A lint rule's documentation, or every rule.",
    "build": "Generate standalone PyTorch source.",
    "graph": "Draw the architecture (.dot, .svg, .png).",
    "ir": "Write the IR as JSON.",
    "explain": "Where a resolved value came from.",
    "schema": "JSON Schema of the spec language.",
    "import-hf": "Turn a HuggingFace config.json into a spec.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [c for c in COMMANDS if self._available(c)]

    @staticmethod
    def _available(name: str) -> bool:
        module = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None or not self._available(name):
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="Examples:\n\n\b\n  archc show specs/llama.yaml size=7b\n  archc lint specs/gpt2.yaml\n"
                    "  archc build specs/llama.yaml vars.n_layers=2 -o model.py\n\n"
                    "Every command takes Hydra-style overrides after the spec: key=value, +key=value, ~key, "
                    "group=option. Bad input exits with code 2 and one line: file:line:col: message.")
@click.version_option(__version__, "--version", "-V", prog_name="archc")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (for reporting bugs in archc).")
@click.pass_context
def cli(ctx, debug):
    """archc: a declarative neural-architecture compiler.

    Write an architecture as a YAML graph; archc checks it, counts it and lowers it to PyTorch.
    """
    ctx.obj = {"debug": debug}


# An exception archc did not expect is archc's bug, not the user's spec: it says so, with this exit status,
# apart from 2 (bad input) and 1 (lint findings), so that scripts and bug reports can tell them apart.
EXIT_BUG = 3


def main(argv=None) -> int:
    from archc.errors import SpecError, printable

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        # without standalone mode click returns the code of a raised Exit (exit_with) instead of raising it
        code = cli.main(args=argv, prog_name="archc", standalone_mode=False)
    except SpecError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}" if exc.loc is None else str(exc), err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        shown = io.StringIO()  # click quotes a bad argument as given: escape it like everything else printed
        exc.show(file=shown)
        for line in shown.getvalue().splitlines():
            click.echo(printable(line), err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file that cannot be written or read outside the spec (-o into a missing folder)
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(printable(f"error: {where}{exc.strerror or exc}"), err=True)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - any other exception is a bug in archc; say so on one line
        if debug:
            raise
        click.echo(printable(f"error: internal error in archc (a bug, not a problem with your spec): "
                             f"{type(exc).__name__}: {exc}; run again with --debug for the traceback and "
                             "report it"), err=True)
        return EXIT_BUG
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
