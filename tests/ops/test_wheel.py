"""The wheel is a whole install: built from this checkout and installed into a fresh virtualenv,
``rader-queue`` run from an empty directory outside the checkout migrates a SQLite database from
the migrations inside the wheel, and every prompt, template and asset of the package is in it.

No network: the wheel is built without build isolation (this environment's setuptools) and
installed without dependencies; the fresh virtualenv borrows the test environment's installed
packages through a ``.pth`` line (added after the install, so pip never sees a second
rader-queue), which does not bring the checkout or its editable install onto the path."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from contextlib import closing
from pathlib import Path

import pytest

from rader_queue.store.models import Base

ROOT = Path(__file__).resolve().parents[2]
TABLES = set(Base.metadata.tables)          # every table the checkout's models map
pytestmark = pytest.mark.slow

# Run inside the installed virtualenv: every data file of the package (path relative to
# rader_queue/) read through importlib.resources, as the code reads them; then the MCTS prompts
# through their loader and the report's templates through its Jinja2 environment.
READ_PACKAGE_DATA = """
import hashlib, json, sys
from importlib import resources
import rader_queue
from rader_queue.mcts.prompting import PROMPT_NAMES, load_template
from rader_queue.report.pages import environment
out = {"package": rader_queue.__file__, "files": {}}
for rel in json.loads(sys.argv[1]):
    data = resources.files("rader_queue").joinpath(rel).read_bytes()
    out["files"][rel] = hashlib.sha256(data).hexdigest()
out["prompts"] = {name: load_template(name).user for name in PROMPT_NAMES}
out["templates"] = [environment().get_template(t).name for t in environment().list_templates()]
print(json.dumps(out))
"""


def _copy_checkout(dest: Path) -> Path:
    """The files git tracks or would track (links kept as links): a build that leaves this
    checkout untouched (no build/ or egg-info in it) and sees what a fresh clone would."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src, dst = ROOT / name, dest / name
        if not src.is_symlink() and not src.exists():
            continue                                     # deleted in the working tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)
    return dest


def _package_data() -> dict[str, str]:
    """sha256 of every non-Python file under rader_queue/ in the checkout, by relative path."""
    package = ROOT / "rader_queue"
    out = {}
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts:
            out[path.relative_to(package).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("wheel")
    source, dist, venv = _copy_checkout(tmp / "source"), tmp / "dist", tmp / "venv"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(dist), str(source)], check=True, capture_output=True, timeout=600)
    (wheel,) = dist.glob("rader_queue-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--no-index", "--quiet", str(wheel)], check=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    borrowed = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "borrowed-dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RADER_", "PYTHON", "VIRTUAL_ENV"))}
    env |= {"PATH": f"{venv / 'bin'}:{env.get('PATH', '')}", "COLUMNS": "200",
            "RADER_CACHE_DIR": str(tmp / "cache")}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(list(args), cwd=elsewhere, env=env, capture_output=True, text=True,
                             timeout=300)
        if ok:
            assert out.returncode == 0, f"{args}: {out.stdout}\n{out.stderr}"
        return out

    return {"wheel": wheel, "venv": venv, "python": str(python), "dir": elsewhere, "run": run,
            "cli": str(venv / "bin" / "rader-queue")}


def test_the_wheel_holds_the_package_and_its_migrations_only(installed):
    with zipfile.ZipFile(installed["wheel"]) as whl:
        names = whl.namelist()
    assert {n.split("/")[0] for n in names} == {"rader_queue", "workers",
                                               installed["wheel"].name.split("-py")[0] + ".dist-info"}
    shipped = {Path(n).name for n in names if n.startswith("rader_queue/migrations/versions/")}
    wanted = {p.name for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert wanted and shipped == wanted
    assert {"rader_queue/migrations/env.py", "rader_queue/migrations/script.py.mako"} <= set(names)


def test_installed_cli_runs_outside_the_checkout(installed):
    where = installed["run"](installed["python"], "-c", "import rader_queue; print(rader_queue.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(installed["venv"]), where.stdout
    helped = installed["run"](installed["cli"], "--help")
    assert "db" in helped.stdout and "enqueue" in helped.stdout
    db_help = installed["run"](installed["cli"], "db", "--help")
    assert all(c in db_help.stdout for c in ("upgrade", "downgrade", "current"))


def test_installed_db_upgrade_migrates_sqlite_from_packaged_migrations(installed):
    from rader_queue.store.revision import code_heads

    db = installed["dir"] / "store.db"
    url = f"sqlite:///{db}"
    run, cli = installed["run"], installed["cli"]
    before = run(cli, "db", "current", "--database-url", url)
    assert "no schema yet" in before.stdout
    run(cli, "db", "upgrade", "--database-url", url)
    head = code_heads(url)                     # the checkout's head, computed here
    with closing(sqlite3.connect(db)) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        revisions = {r[0] for r in conn.execute("select version_num from alembic_version")}
    assert TABLES <= tables and revisions == head, (tables, revisions)
    current = run(cli, "db", "current", "--database-url", url)
    assert f"is at {', '.join(sorted(head))} (head)" in current.stdout, current.stdout
    run(cli, "db", "downgrade", "base", "--database-url", url)
    with closing(sqlite3.connect(db)) as conn:
        left = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
    assert not (TABLES & left), left
    written = {p.name for p in installed["dir"].iterdir()}
    assert written and all(n.startswith("store.db") for n in written), written   # nothing else


def test_prompts_templates_and_assets_are_in_the_installed_package(installed):
    wanted = _package_data()
    assert any(rel.endswith(".txt") and "prompts/" in rel for rel in wanted)   # prompts exist
    assert any(rel.endswith(".j2") for rel in wanted)
    out = installed["run"](installed["python"], "-c", READ_PACKAGE_DATA, json.dumps(sorted(wanted)))
    loaded = json.loads(out.stdout)
    assert Path(loaded["package"]).is_relative_to(installed["venv"])
    assert loaded["files"] == wanted
    assert loaded["prompts"] and all(user.strip() for user in loaded["prompts"].values())
    report_templates = {rel.split("/", 2)[2] for rel in wanted if rel.startswith("report/templates/")}
    assert report_templates and set(loaded["templates"]) == report_templates
