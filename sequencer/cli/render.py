"""How the inspection commands print: a two-column rich table, or the raw answer as JSON (``--json``)."""

from __future__ import annotations

from typing import Any

import click

Row = tuple[str, Any]
"""One line of a table: the field's label and its value (printed with ``str``)."""


def table(title: str, rows: list[Row]) -> None:
    """Print ``rows`` as a titled field/value table on stdout."""
    from rich.console import Console
    from rich.table import Table

    out = Table(title=title, show_header=False)
    out.add_column("field", style="bold")
    out.add_column("value", overflow="fold")
    for key, value in rows:
        out.add_row(key, str(value))
    Console().print(out)


def emit(as_json: bool, data: Any, title: str, rows: list[Row]) -> None:
    """Print ``data`` as one line of JSON if ``as_json``, else ``rows`` as a table."""
    if as_json:
        import json

        click.echo(json.dumps(data))
    else:
        table(title, rows)
