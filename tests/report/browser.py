"""Headless Chromium for the report tests: dump a page's DOM after its scripts ran, or take a
screenshot. Each call gets a fresh profile folder; nothing is fetched from a network."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = os.environ.get("RADER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-extensions", "--mute-audio"]


def available() -> bool:
    return Path(CHROMIUM).exists()


def _run(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="rader-chromium-")
    try:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(url: str) -> str:
    return _run(["--virtual-time-budget=3000", "--dump-dom", url]).stdout


def screenshot(url: str, path: Path, size: str = "1300,1800") -> Path:
    _run([f"--screenshot={path}", f"--window-size={size}", "--hide-scrollbars", url])
    return path


class TreeDom(HTMLParser):
    """The tree nodes of a dumped problem page: id → (parent id, open?, shown?)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.nodes: dict[int, dict] = {}
        self._stack: list[int | None] = []
        self.scripts: list[dict] = []
        self.title = ""
        self._in_title = False
        self.html_attrs: dict = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.html_attrs = a
        elif tag == "script":
            self.scripts.append(a)
        elif tag == "title":
            self._in_title = True
        if tag != "details":
            return
        if "node" in (a.get("class") or "").split():
            nid = int(a["data-node"])
            parent = next((p for p in reversed(self._stack) if p is not None), None)
            self.nodes[nid] = {"parent": parent, "open": "open" in a,
                               "shown": a.get("data-shown") == "1", "class": a.get("class", "")}
            self._stack.append(nid)
        else:
            self._stack.append(None)

    def handle_endtag(self, tag):
        if tag == "details" and self._stack:
            self._stack.pop()
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data

    def children(self, nid: int) -> list[int]:
        return [k for k, v in self.nodes.items() if v["parent"] == nid]
