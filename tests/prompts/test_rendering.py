"""Every packaged prompt renders byte for byte as the original ``{{slot}}`` substitution did,
hostile text stays literal, and a missing slot is an error naming the prompt and the slot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rader_queue.errors import ConfigError
from rader_queue.mcts import prompting
from rader_queue.prompt_files import load_prompt
from rader_queue.querygen import prompting as querygen_prompting
from tests.prompts.cases import CONTEXTS, DOCS, HOSTILE, all_cases

GOLDEN = json.loads((Path(__file__).parent / "golden.json").read_text(encoding="utf-8"))


def test_golden_covers_every_prompt():
    names = {key.split("/")[0] for key in GOLDEN}
    assert names == set(prompting.PROMPT_NAMES) | set(querygen_prompting.PROMPTS)


def test_rendering_is_byte_identical_to_the_golden_file():
    rendered = all_cases()
    assert rendered.keys() == GOLDEN.keys()
    for key, messages in rendered.items():
        assert messages == GOLDEN[key], key


def test_hostile_text_is_inserted_literally():
    user = prompting.ost_messages(CONTEXTS["hostile"])[1]["content"]
    assert f"Problem: {HOSTILE.strip()}" in user
    assert "Use {{theorem}} here. {% set x = 1 %}" in user
    judged = querygen_prompting.judge_messages("{{ 7 * 7 }} {% raw %}", DOCS["plain"], 200)[1]["content"]
    assert "Query: {{ 7 * 7 }} {% raw %}" in judged and "49" not in judged





def test_a_missing_slot_names_the_prompt_and_the_slot():
    with pytest.raises(ConfigError, match=r"mcts/prompts/self_reflection\.txt.*'theorem'"):
        prompting.load_template("self_reflection").messages(question="q", steps="s")
    with pytest.raises(ConfigError, match=r"querygen/prompts/qllmq\.txt.*'steps'"):
        querygen_prompting.template("qllmq").messages(question="q", theorem="t")


def test_the_slots_are_read_from_the_templates():
    assert load_prompt("mcts/prompts/answer_equivalence.txt").slots == {"question", "gold", "predicted"}
    assert load_prompt("querygen/prompts/qlexical.txt").slots == {"theorem"}


def test_unknown_files_are_config_errors():
    with pytest.raises(ConfigError, match="no prompt file"):
        load_prompt("mcts/prompts/nope.txt")
    with pytest.raises(ConfigError, match="unknown querygen prompt"):
        querygen_prompting.template("nope")
