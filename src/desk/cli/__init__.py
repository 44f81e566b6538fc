"""The ``desk`` command: Typer sub-apps, one module per command group."""
