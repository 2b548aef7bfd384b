"""The ``quarry`` command line: parses arguments, calls the flows and the core, prints.

Nothing imports this package: it is the top of the stack.
"""

from __future__ import annotations

import typer

from quarrycore.cli.crawl import crawl, demo, reextract, serve_sample
from quarrycore.cli.deadletters import app as dead_letters_app
from quarrycore.cli.server import app as server_app
from quarrycore.cli.store import export, refilter, status

app = typer.Typer(
    help="QuarryCore: turn URLs into clean documents in a database.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(crawl)
app.command()(status)
app.command()(export)
app.command()(refilter)
app.command()(reextract)
app.command()(demo)
app.command("serve-sample")(serve_sample)
app.add_typer(dead_letters_app, name="dead-letters")
app.add_typer(server_app, name="server")

if __name__ == "__main__":
    app()
