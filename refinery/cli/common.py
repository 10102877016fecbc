"""What every `refinery` command shares: exit codes, one-line failures, loading the configuration."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from refinery.config import Config, ConfigError

EXIT_FAILED, EXIT_CONFIG, EXIT_BUSY = 1, 2, 3


def fail(message: str, code: int) -> NoReturn:
    """Print `refinery: <message>` on stderr and exit with `code`."""
    click.echo(f"refinery: {message}", err=True)
    sys.exit(code)


def load() -> Config:
    """The validated configuration, with the environment prepared; exits 2 on a configuration error."""
    from refinery.settings import load_and_prepare

    try:
        return load_and_prepare()
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
