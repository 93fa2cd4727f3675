from __future__ import annotations

from pathlib import Path

import pytest

from redline import Contract, ContractError, load_contract
from redline.contract import load_contract_text

MINIMAL = """\
version: 1
name: minimal
clauses:
  - id: RL-SURV
    name: domestic mass surveillance
"""


def test_default_contract_has_both_red_lines() -> None:
    contract = Contract.default()
    assert contract.clause_ids == ("RL-SURV", "RL-AUTO")
    assert all(c.action == "block" and 0 < c.threshold < 1 for c in contract.clauses)
    assert contract.unsupported_language == "flag"


def test_hash_ignores_formatting_but_not_meaning() -> None:
    a = load_contract_text(MINIMAL)
    b = load_contract_text("# a comment\n" + MINIMAL.replace("name: minimal", "name:   minimal"))
    c = load_contract_text(MINIMAL + "    threshold: 0.6\n")
    assert a.hash == b.hash
    assert a.hash != c.hash
    assert a.hash.startswith("sha256:") and len(a.hash) == len("sha256:") + 64


@pytest.mark.parametrize(
    ("text", "field", "line", "words"),
    [
        (MINIMAL + "    threshold: 1.5\n", "clauses.0.threshold", 6, "less than 1"),
        (MINIMAL + "    colour: red\n", "clauses.0.colour", 6, "unknown field"),
        (MINIMAL + "    action: explode\n", "clauses.0.action", 6, "block"),
        (MINIMAL.replace("name: minimal\n", ""), "name", 1, "required"),
        (MINIMAL + "  - id: ACME-X\n    name: custom\n", "clauses.1", 6, "needs 'examples'"),
        (MINIMAL + "  - id: RL-SURV\n    name: again\n", None, 1, "appears twice"),
        (MINIMAL.replace("RL-SURV", "rl surv"), "clauses.0.id", 4, "pattern"),
    ],
)
def test_malformed_contract_names_field_and_line(text: str, field: str | None, line: int, words: str) -> None:
    with pytest.raises(ContractError) as info:
        load_contract_text(text, source="c.yaml")
    error = info.value
    assert error.field == field
    assert error.line == line
    assert words in str(error)
    assert str(error).startswith(f"c.yaml, line {line}:")


def test_invalid_yaml_names_line() -> None:
    with pytest.raises(ContractError) as info:
        load_contract_text("version: 1\nclauses: [\n  - a\n", source="bad.yaml")
    assert info.value.line is not None and info.value.line >= 2
    assert "not valid YAML" in str(info.value)


def test_missing_file_is_a_contract_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="no such file"):
        load_contract(tmp_path / "nope.yaml")


def test_custom_clause_needs_enough_examples() -> None:
    text = (
        MINIMAL
        + "  - id: ACME-X\n    name: custom\n    examples:\n      positive: [a, b]\n      negative: [c]\n"
    )
    with pytest.raises(ContractError) as info:
        load_contract_text(text)
    assert info.value.field == "clauses.1.examples.positive"
