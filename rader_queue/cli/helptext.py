"""Help text that reads well at any width: docstrings are written wrapped at 100 columns, and
the rich help formatter keeps single newlines, so a paragraph would break mid-sentence at 80.
:func:`tidy` joins each paragraph's lines (indented blocks and list items stay as written) and
turns reStructuredText double backticks into single ones, for every command and group."""

from __future__ import annotations

import inspect
import re

import typer

_LITERAL = re.compile(r"``([^`]+)``")
_ROLE = re.compile(r":(?:class|func|meth|data|mod|attr):`~?([^`]+)`")


def tidy_text(text: str | None) -> str | None:
    if not text:
        return text
    text = _ROLE.sub(r"`\1`", _LITERAL.sub(r"`\1`", inspect.cleandoc(text)))
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        if any(line.startswith((" ", "\t")) for line in lines[1:]) or \
                all(line.lstrip().startswith(("* ", "- ", "• ")) for line in lines if line.strip()):
            paragraphs.append(block)       # a table, a command block or a list: as written
        else:
            paragraphs.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


def tidy(app: typer.Typer) -> None:
    """Rewrite the help of every command and group under ``app`` in place (idempotent)."""
    app.info.help = tidy_text(app.info.help if isinstance(app.info.help, str) else None) \
        or app.info.help
    for command in app.registered_commands:
        if isinstance(command.help, str):
            command.help = tidy_text(command.help)
        elif command.callback is not None and command.callback.__doc__:
            command.callback.__doc__ = tidy_text(command.callback.__doc__)
    for group in app.registered_groups:
        if isinstance(group.help, str):
            group.help = tidy_text(group.help)
        if group.typer_instance is not None:
            tidy(group.typer_instance)
