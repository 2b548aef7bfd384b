"""What the command line prints: one clear line for an error, tables for results."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from quarrycore.exceptions import ConfigError
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


def print_summary(rows: list[dict[str, str | int | float]], *, title: str) -> None:
    table = Table("metric", "value", title=title)
    for row in rows:
        table.add_row(str(row["metric"]), str(row["value"]))
    console.print(table)
