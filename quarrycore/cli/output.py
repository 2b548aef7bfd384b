"""What the command line prints: one clear line for an error, tables for results."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from quarrycore.credentials import mask_url, split_password
from quarrycore.exceptions import ConfigError, QuarryError
from quarrycore.settings import QuarrySettings, settings_from_parameters

console = Console()

DbOption = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the store.")]
JobOption = Annotated[str | None, typer.Option("--job-id", help="Job id.")]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; the exit to raise (2: bad input)."""
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def settings(**parameters: Any) -> QuarrySettings:
    """The settings of a command, from ``QUARRY_*`` and its options; exit 2 if invalid."""
    try:
        return settings_from_parameters(**parameters)
    except ConfigError as exc:
        raise fail(str(exc)) from exc


@contextmanager
def store_errors(url: str) -> Iterator[None]:
    """Our errors, and a database that cannot be used (unreachable, refused, missing), as
    one line naming the store with its password hidden; exit 2."""
    try:
        yield
    except QuarryError as exc:
        raise fail(str(exc)) from exc
    except sa.exc.DBAPIError as exc:
        raise fail(f"cannot use the store {mask_url(url)}: {database_reason(exc)}") from exc


def database_reason(exc: sa.exc.DBAPIError) -> str:
    """The driver's own first line (refused, unknown database, …), without SQL."""
    lines = str(exc.orig or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def check_reachable(url: str) -> None:
    """Connect to the store once, so an unreachable one is one clear line before any
    flow run is made (exit 2)."""
    from quarrycore.db import make_engine

    with store_errors(url):
        engine = make_engine(url)
        try:
            engine.connect().close()
        finally:
            engine.dispose()


def hand_over(url: str, password_variable: str) -> str:
    """``url`` as a flow parameter: without its password, which the Prefect server would
    store and show. The password goes to this process's environment as
    ``password_variable`` (``QUARRY_DATABASE_PASSWORD``), where the flow, run in this
    process, takes it back (``QuarrySettings.database_password``)."""
    reference, password = split_password(url)
    if password is not None:
        os.environ[password_variable] = password
    return reference


def print_summary(rows: list[dict[str, str | int | float]], *, title: str) -> None:
    table = Table("metric", "value", title=title)
    for row in rows:
        table.add_row(str(row["metric"]), str(row["value"]))
    console.print(table)
