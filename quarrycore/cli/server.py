"""``quarry server start|stop|status``: a Prefect server kept running for this project."""

from __future__ import annotations

from typing import Annotated

import typer

from quarrycore.cli.output import console, fail, settings
from quarrycore.exceptions import QuarryError

app = typer.Typer(
    help="A Prefect server kept running in the background for this project's runs.",
    no_args_is_help=True,
)


@app.command()
def start(
    port: Annotated[
        int | None, typer.Option(help="Port on 127.0.0.1 (default: a free one).")
    ] = None,
) -> None:
    """Start it (or say where it runs); `quarry crawl` then uses it."""
    from quarrycore.flows import backgroundserver

    data_dir = settings().data_dir
    try:
        info = backgroundserver.start(data_dir, port=port)
    except QuarryError as exc:
        raise fail(str(exc)) from exc
    console.print(f"Prefect server at {info.api_url} (UI: {info.api_url.removesuffix('/api')})")
    console.print(f"log: {info.log}")


@app.command()
def status() -> None:
    """Whether it runs, and where (exit 1 when it does not)."""
    from quarrycore.flows import backgroundserver

    info = backgroundserver.running(settings().data_dir)
    if info is None:
        console.print("no Prefect server of this project is running")
        raise typer.Exit(1)
    console.print(f"running: {info.api_url} (pid {info.pid}, log {info.log})")


@app.command()
def stop() -> None:
    """Stop it."""
    from quarrycore.flows import backgroundserver

    stopped = backgroundserver.stop(settings().data_dir)
    console.print("stopped" if stopped else "no Prefect server of this project was running")
