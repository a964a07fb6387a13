"""The ``archc`` command line: one module per command, listed in :data:`archc.cli.main.COMMANDS`."""
