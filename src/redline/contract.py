"""The contract: which clauses apply, how strictly, and what happens when one is crossed.

A contract is a YAML document::

    version: 1
    name: default                      # free text, shown in verdicts and the ledger
    unsupported_language: flag         # flag | block   (see below)
    clauses:
      - id: RL-SURV                    # upper-case letters, digits and dashes
        name: domestic mass surveillance
        threshold: 0.5                 # a score at or above it crosses the clause
        action: block                  # block | hold | flag
        # built-in clauses (RL-SURV, RL-AUTO) are scored by the shipped heads;
        # any other clause must define itself by examples:
      - id: ACME-EXPORT
        name: export-controlled designs
        description: ...
        threshold: 0.5
        action: block
        examples:
          positive: [ "...", ... ]     # at least 8 each; a few dozen is better
          negative: [ "...", ... ]
    lethal_tools: [fire_weapon, "strike_*"]   # tool names whose calls are held for a human (glob)

``unsupported_language`` decides what happens to a text in a language the encoder was not trained on:
``flag`` (default) screens it anyway and marks the verdict low-confidence, so the ledger and the
gateway show it was not fully understood; ``block`` refuses it outright.

The *contract hash* is the SHA-256 of the validated contract in canonical JSON form, so comments,
key order and formatting do not change it; any change of meaning does.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from redline.errors import ContractError
from redline.yamlfile import load_model

BUILTIN_CLAUSES = ("RL-SURV", "RL-AUTO")
ALLOWED = "allowed"
MIN_EXAMPLES = 8

Action = Literal["block", "hold", "flag"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Examples(_Strict):
    positive: tuple[str, ...] = Field(min_length=MIN_EXAMPLES)
    negative: tuple[str, ...] = Field(min_length=MIN_EXAMPLES)

    @field_validator("positive", "negative")
    @classmethod
    def _non_empty_texts(cls, texts: tuple[str, ...]) -> tuple[str, ...]:
        for i, text in enumerate(texts):
            if not text.strip():
                raise ValueError(f"example {i + 1} is empty")
        return texts


class Clause(_Strict):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$")
    name: str = Field(min_length=1)
    description: str = ""
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    action: Action = "block"
    examples: Examples | None = None

    @property
    def builtin(self) -> bool:
        return self.id in BUILTIN_CLAUSES

    @model_validator(mode="after")
    def _scored_somehow(self) -> Clause:
        if not self.builtin and self.examples is None:
            raise ValueError(
                f"clause {self.id} is not built in ({', '.join(BUILTIN_CLAUSES)}), "
                "so it needs 'examples' with 'positive' and 'negative' texts"
            )
        return self


class Contract(_Strict):
    version: Literal[1] = 1
    name: str = Field(min_length=1)
    description: str = ""
    unsupported_language: Literal["flag", "block"] = "flag"
    clauses: tuple[Clause, ...] = Field(min_length=1)
    lethal_tools: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> Contract:
        seen: set[str] = set()
        for clause in self.clauses:
            if clause.id in seen:
                raise ValueError(f"clause id {clause.id} appears twice")
            seen.add(clause.id)
        return self

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def clause(self, clause_id: str) -> Clause:
        for clause in self.clauses:
            if clause.id == clause_id:
                return clause
        raise KeyError(clause_id)

    @property
    def clause_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.clauses)

    @classmethod
    def default(cls) -> Contract:
        text = resources.files("redline").joinpath("default_contract.yaml").read_text("utf-8")
        return load_contract_text(text, source="default_contract.yaml")

    @classmethod
    def from_path(cls, path: str | Path) -> Contract:
        return load_contract(path)


def load_contract(path: str | Path) -> Contract:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ContractError("no such file", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ContractError(f"not UTF-8 (byte {exc.start})", source=str(path)) from None
    return load_contract_text(text, source=str(path))


def load_contract_text(text: str, *, source: str = "<contract>") -> Contract:
    return load_model(text, Contract, source=source, error=ContractError, what="a contract")


__all__ = [
    "ALLOWED",
    "BUILTIN_CLAUSES",
    "Clause",
    "Contract",
    "Examples",
    "load_contract",
    "load_contract_text",
]
