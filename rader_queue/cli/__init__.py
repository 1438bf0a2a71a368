"""The ``rader-queue`` command line (Typer). ``rader-queue --help`` lists the commands."""
