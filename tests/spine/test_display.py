"""rader_queue.terminal_text: data reaches the terminal as text, never as markup or escapes."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from rader_queue.terminal_text import cell, clean, escaped, safe_text


@pytest.mark.parametrize("raw, shown", [
    ("a\x1b[2Jb", "ab"),                                   # CSI: clear screen
    ("a\x1b[31;1mred\x1b[0m", "ared"),                      # SGR colours
    ("\x1b]8;;https://evil.example\x07link\x1b]8;;\x07", "link"),   # OSC 8 hyperlink, BEL
    ("\x1b]0;title\x1b\\x", "x"),                          # OSC window title, ST
    ("\x1b]52;c;ZXZpbA==\x07copy", "copy"),                # OSC 52 clipboard write
    ("a\x9b31mb", "ab"),                                   # C1 CSI
    ("a\x9d0;t\x9cb", "ab"),                               # C1 OSC … C1 ST
    ("a\x1bPq#0\x1b\\b", "ab"),                            # DCS (sixel) string
    ("safe\rEVIL", "safeEVIL"),                            # bare CR overwrite
    ("a\x00b\x07c\x08d\x7fe\x85f", "abcdef"),             # other C0/C1, DEL
    ("left\u202eright\u2066x\u2069", "leftrightx"),       # bidi override / isolates
    ("tab\there\nline", "tab here\nline"),
    ("[/bold] [link=x]y[/link]", "[/bold] [link=x]y[/link]"),   # markup is only text here
])
def test_clean(raw, shown):
    assert clean(raw) == shown


def test_one_line_and_limit():
    assert clean("a\n b\t c", one_line=True) == "a b c"
    assert clean("abcdef", limit=4) == "abc…"
    assert clean(None) == ""


def test_rich_prints_data_literally():
    out = io.StringIO()
    console = Console(file=out, width=300, color_system=None, force_terminal=False)
    payload = "x [/bold] [link=https://evil.example]click[/link] \x1b[2J :smile: [red]r[/red]"
    table = Table("a", title=safe_text(payload))
    table.add_row(cell(payload))
    console.print(table)
    console.print(safe_text(payload))
    console.print(f"[bold]run[/] {escaped(payload)}", emoji=False)
    text = out.getvalue()
    assert "\x1b" not in text
    assert text.count("[/bold] [link=https://evil.example]click[/link]") == 4
    assert text.count(":smile: [red]r[/red]") == 4          # no emoji, no styles applied
