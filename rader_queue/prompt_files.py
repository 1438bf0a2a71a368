"""Chat prompts kept as text files inside the package, rendered with Jinja2: the one loader of
the MCTS prompts (``mcts/prompts``) and the query-generation prompts (``querygen/prompts``).

A prompt file holds a system part (instruction and short few-shot examples, sent as written)
and, after a ``---- user ----`` line, the user part: a Jinja2 template whose ``{{ slot }}``
expressions take the problem, the steps, the theorem... Values are inserted as plain text and
never parsed as template syntax, so ``{{``, ``{%`` or ``}}`` inside a problem, a theorem or a
model's reply reach the model unchanged. Autoescaping is off (the prompts are not HTML). A slot
without a value is a :class:`ConfigError` naming the prompt and the slot.

Pure apart from reading the packaged files; the MCTS core builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from jinja2 import Environment, FunctionLoader, StrictUndefined, Template, TemplateError, meta

from rader_queue.errors import ConfigError

USER_MARKER = "---- user ----"


@lru_cache(maxsize=None)
def _parts(path: str) -> tuple[str, str]:
    """(system text, user template source) of the prompt file ``path`` (relative to the
    ``rader_queue`` package), each without surrounding whitespace."""
    try:
        text = (resources.files("rader_queue") / path).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"no prompt file {path} in the rader_queue package") from None
    if USER_MARKER not in text:
        raise ConfigError(f"prompt file {path} lacks the {USER_MARKER!r} line")
    system, user = text.split(USER_MARKER, 1)
    return system.strip(), user.strip()


_ENVIRONMENT = Environment(loader=FunctionLoader(lambda path: _parts(path)[1]),
                           undefined=StrictUndefined, autoescape=False,
                           keep_trailing_newline=True)


@dataclass(frozen=True)
class ChatPrompt:
    """A system text and a user template with ``{{ slot }}`` placeholders."""

    name: str
    system: str
    user: str                  # the template source
    template: Template
    slots: frozenset[str]

    def messages(self, **values: object) -> list[dict[str, str]]:
        """``[system, user]`` chat messages with every slot filled."""
        missing = self.slots - set(values)
        if missing:
            raise ConfigError(f"prompt {self.name} needs a value for slot(s) {sorted(missing)}")
        try:
            user = self.template.render(**values)
        except TemplateError as exc:
            raise ConfigError(f"prompt {self.name}: {exc}") from None
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


@lru_cache(maxsize=None)
def load_prompt(path: str) -> ChatPrompt:
    """The prompt file ``path``, relative to the ``rader_queue`` package
    (e.g. ``"mcts/prompts/ost.txt"``)."""
    system, user = _parts(path)
    try:
        template = _ENVIRONMENT.get_template(path)
        slots = meta.find_undeclared_variables(_ENVIRONMENT.parse(user))
    except TemplateError as exc:
        raise ConfigError(f"prompt file {path}: {exc}") from None
    return ChatPrompt(path, system, user, template, frozenset(slots))
