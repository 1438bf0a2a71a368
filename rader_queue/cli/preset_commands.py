"""``rader-queue preset …``: the named value sets that ``--preset`` applies.

    rader-queue preset list               names and one-line summaries
    rader-queue preset show NAME [--env]  every value (or the RADER_* lines it needs)
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from rader_queue.cli.common import console, friendly_errors

preset_app = typer.Typer(no_args_is_help=True, help="Named value sets for a whole run "
                         "(rader-paper: the paper's values; laptop: the small defaults).")


@preset_app.command("list")
@friendly_errors
def list_presets() -> None:
    """Known presets."""
    from rader_queue.presets import PRESETS

    table = Table("preset", "summary")
    for preset in PRESETS.values():
        table.add_row(preset.name, preset.summary)
    console.print(table)


@preset_app.command("show")
@friendly_errors
def show(
    name: Annotated[str, typer.Argument(help="rader-paper or laptop.")],
    env: Annotated[bool, typer.Option("--env", help="Print only the RADER_* environment lines its models need.")] = False,
) -> None:
    """Every value of preset NAME, by stage (`--preset NAME` on enqueue, dataset build, train
    and eval run applies the stage's values to options not given on the command line)."""
    from rader_queue.presets import environment, get_preset

    preset = get_preset(name)
    if env:
        for key, value in environment(preset).items():
            typer.echo(f"{key}={value!r}" if value == "" or " " in value else f"{key}={value}")
        return
    table = Table("stage", "setting", "value", title=f"{preset.name}: {preset.summary}",
                  title_justify="left")
    for stage, values in preset.as_dict().items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            table.add_row(stage, key, repr(value) if isinstance(value, str) else str(value))
    console.print(table)
