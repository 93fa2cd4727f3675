"""Redline: enforce an AI usage contract's red lines, and prove afterwards that they held."""

from redline.contract import Clause, Contract, load_contract
from redline.errors import ContractError, CorpusError, InputError, ModelError, RedlineError
from redline.language import Language
from redline.screen import Reason, Screen, Verdict

__all__ = [
    "Clause",
    "Contract",
    "ContractError",
    "CorpusError",
    "InputError",
    "Language",
    "ModelError",
    "Reason",
    "RedlineError",
    "Screen",
    "Verdict",
    "load_contract",
]
