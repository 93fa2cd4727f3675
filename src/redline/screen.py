"""The screen: any text in, a :class:`Verdict` under the contract out.

A text goes through four steps. It is *normalised* (disguises undone, hidden payloads decoded into
extra views), its *language* is detected, it is cut into *windows* (the whole text when short, each
sentence, each pair of neighbouring sentences) so that one ask buried in a long document is scored on
its own, and every window is *encoded* and *scored* by each clause's head. A clause's score is its best
window's score; the verdict names that window as the reason, and reads the clause's conditions there
(:data:`CONDITIONS`).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import numpy as np

from redline.contract import ALLOWED, Contract
from redline.encoder import CachedEncoder, Encoder, UseEncoder, Vectors
from redline.errors import InputError, ModelError
from redline.heads import Heads, LinearHead, fit_linear
from redline.language import Language, detect
from redline.normalize import normalize
from redline.segment import sentences

MAX_CHARS = 262_144
SHORT_TEXT_CHARS = 400
WHOLE_TEXT_CHARS = 1_500
MIN_WINDOW_CHARS = 12
EXCERPT_CHARS = 240
# A sentence scored alone loses its document's framing: "the platform fuses plate reads and social
# media into one profile per resident" is an ask on its own and reporting inside a news article. So in
# a text whose windows read, on average, as discussion or a summary (the networks' kinds, as a logit),
# the windows other than the whole text have their built-in clauses' logits lowered by this many times
# that average, where it is positive. Chosen on dev's long articles (see the README's evaluation).
REPORTED_WEIGHT = 2.0
_REPORTING = ("neg:discussion", "neg:summary")

Action = Literal["allow", "block", "hold", "flag"]

_NOT_AN_ASK = ("neg:discussion", "neg:summary", "everyday", "homonym")

# A built-in clause read as its conditions (../shared/POLICY.md). Each condition holds as far as none of
# the lawful kinds that negate it fits the text: the networks learn those kinds from the corpus's lawful
# twins, which differ from their red-line item in that one condition. The conditions explain a verdict
# to an auditor or an over-blocked analyst; the clause's own score decides it, and weighs the same
# kind outputs (redline.heads.blended).
CONDITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "RL-SURV": {
        "an operational ask": _NOT_AN_ASK,
        "the country's own people": ("neg:foreign-intel",),
        "in bulk, not one suspect under a warrant": ("neg:warrant",),
        "identified people, not statistics": ("neg:aggregate",),
        "people, not one's own systems": ("neg:own-network",),
        "watching, not oversight or privacy work": ("neg:privacy",),
    },
    "RL-AUTO": {
        "an operational ask": _NOT_AN_ASK,
        "no human decision per engagement": ("neg:human-decision",),
        "against people, not incoming munitions": ("neg:interception",),
        "applying force": ("neg:military-support", "neg:nonforce-autonomy"),
    },
}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a clause scored what it did: the window that scored highest, and where it was found."""

    clause: str
    score: float
    excerpt: str
    view: str  # "text", or the payload it was decoded from: "base64", "hex", "rot13", "percent"
    conditions: tuple[tuple[str, float], ...] = ()  # (condition, how far it holds in that window)


@dataclass(frozen=True)
class Verdict:
    """The screen's answer for one text.

    ``decision`` is what the text is under the contract (``"allowed"`` or the clause it crosses);
    ``action`` is what the contract does about it (``allow``, ``block``, ``hold`` or ``flag``).
    ``confident`` is False when the text's language is one the encoder was not trained on.
    """

    decision: str
    action: Action
    scores: Mapping[str, float]
    reasons: tuple[Reason, ...]
    language: Language
    confident: bool
    disguises: tuple[str, ...]
    contract_hash: str = field(repr=False)

    @property
    def allowed(self) -> bool:
        return self.action in ("allow", "flag")

    @property
    def clause(self) -> str | None:
        return None if self.decision == ALLOWED else self.decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "action": self.action,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "reasons": [
                {
                    "clause": r.clause,
                    "score": round(r.score, 4),
                    "excerpt": r.excerpt,
                    "view": r.view,
                    "conditions": dict(r.conditions),
                }
                for r in self.reasons
            ],
            "language": self.language.code,
            "language_supported": self.language.supported,
            "confident": self.confident,
            "disguises": list(self.disguises),
            "contract": self.contract_hash,
        }


@dataclass(frozen=True, slots=True)
class _Window:
    text: str
    view: str
    whole: bool  # the whole of its view's text, not one of its sentences or pairs


class Screen:
    """Scores texts against a contract's clauses. Thread-safe; build one and share it."""

    def __init__(
        self,
        contract: Contract,
        encoder: Encoder,
        heads: Heads,
        *,
        background: Sequence[str] = (),
        max_chars: int = MAX_CHARS,
        cache_size: int = 4096,
    ) -> None:
        if heads.encoder != encoder.name:
            raise ModelError(f"the heads were trained on encoder {heads.encoder!r}, not {encoder.name!r}")
        self.contract = contract
        self.contract_hash = contract.hash
        self.encoder = encoder
        self.heads = heads
        self.max_chars = max_chars
        # Verdicts by exact text: a gateway sees the same system prompts and tool schemas again and again.
        self._cache: OrderedDict[str, Verdict] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._builtin = [(i, c) for i, c in enumerate(heads.clause_ids) if c in contract.clause_ids]
        self._conditions = {
            clause: [
                (name, [heads.aux_ids.index(k) for k in negated]) for name, negated in conditions.items()
            ]
            for clause, conditions in CONDITIONS.items()
            if clause in contract.clause_ids
            and all(k in heads.aux_ids for negated in conditions.values() for k in negated)
        }
        self._reporting = [heads.aux_ids.index(k) for k in _REPORTING if k in heads.aux_ids]
        self._custom: dict[str, LinearHead] = {}
        for clause in contract.clauses:
            if clause.builtin:
                if clause.id not in heads.clause_ids:
                    raise ModelError(f"the shipped heads do not score {clause.id}; run 'redline train'")
            elif clause.examples is not None:
                pos = list(clause.examples.positive)
                neg = list(clause.examples.negative) + list(background)
                x = encoder.encode(pos + neg)[:, : encoder.sentence_dim]
                y = np.array([1] * len(pos) + [0] * len(neg))
                self._custom[clause.id] = fit_linear(x, y)

    @classmethod
    def default(cls, contract: Contract | None = None) -> Screen:
        """The shipped screen: the default contract (or ``contract``), USE v3 and the trained heads."""
        contract = contract or Contract.default()
        return cls(contract, CachedEncoder(UseEncoder()), shipped_heads(), background=shipped_background())

    def check(self, text: str) -> Verdict:
        return self.check_many([text])[0]

    def check_many(self, texts: Iterable[str]) -> list[Verdict]:
        """Screen several texts with one batched encoder call. Raises :class:`InputError` naming the
        first text (0-based index) that cannot be screened."""
        texts = list(texts)
        for index, text in enumerate(texts):
            self.validate(text, index)
        if not self._cache_size:
            return self._check_many(texts)
        out: list[Verdict | None] = []
        with self._lock:
            for text in texts:
                hit = self._cache.get(text)
                if hit is not None:
                    self._cache.move_to_end(text)
                out.append(hit)
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            fresh = self._check_many([texts[i] for i in missing])
            with self._lock:
                for i, verdict in zip(missing, fresh, strict=True):
                    out[i] = verdict
                    self._cache[texts[i]] = verdict
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return [v for v in out if v is not None]

    def _check_many(self, texts: list[str]) -> list[Verdict]:
        if not texts:
            return []
        prepared = [self._prepare(i, t) for i, t in enumerate(texts)]
        flat = [w.text for _, _, windows in prepared for w in windows]
        uncovered = np.array([not language.supported for language, _, windows in prepared for _ in windows])
        scores, kinds = self._score(self.encoder.encode(flat), flat, uncovered)
        verdicts, offset = [], 0
        for language, disguises, windows in prepared:
            rows = slice(offset, offset + len(windows))
            offset += len(windows)
            window_scores = {c: s[rows] for c, s in scores.items()}  # views: a discount writes through
            if kinds is not None and len(windows) > 1:
                self._discount_reported(windows, window_scores, kinds[rows])
            verdicts.append(
                self._verdict(
                    language, disguises, windows, window_scores, None if kinds is None else kinds[rows]
                )
            )
        return verdicts

    def _discount_reported(
        self, windows: list[_Window], scores: dict[str, np.ndarray[Any, Any]], kinds: np.ndarray[Any, Any]
    ) -> None:
        """Lower, in place, the built-in clauses' scores of the parts of a text that as a whole reads
        as reporting or discussion (see REPORTED_WEIGHT)."""
        if not self._reporting:
            return
        p = np.clip(kinds[:, self._reporting].max(axis=1), 1e-6, 1 - 1e-6)
        lean = float(np.mean(np.log(p / (1 - p))))
        parts = np.array([not w.whole for w in windows])
        if lean <= 0 or not parts.any():
            return
        for _, clause_id in self._builtin:
            part = scores[clause_id][parts]
            logit = np.log(np.clip(part, 1e-7, 1 - 1e-7) / np.clip(1 - part, 1e-7, 1))
            scores[clause_id][parts] = 1 / (1 + np.exp(REPORTED_WEIGHT * lean - logit))

    def validate(self, text: object, index: int = 0) -> None:
        """Raise :class:`InputError` if ``text`` cannot be screened (not a string, empty, too long)."""
        if not isinstance(text, str):
            raise InputError(f"text {index} is {type(text).__name__}, not a string")
        if not text.strip():
            raise InputError(f"text {index} is empty")
        if len(text) > self.max_chars:
            raise InputError(
                f"text {index} has {len(text):,} characters; the screen takes at most {self.max_chars:,}"
            )

    def _prepare(self, index: int, text: object) -> tuple[Language, tuple[str, ...], list[_Window]]:
        self.validate(text, index)
        assert isinstance(text, str)
        normalized = normalize(text)
        windows = [
            _Window(w, view.kind, w == view.text.strip())
            for view in normalized.views
            for w in windows_of(view.text)
        ]
        if not windows:  # nothing readable at all, e.g. only punctuation
            windows = [_Window(text.strip(), "text", True)]
        language = detect(" ".join(view.text for view in normalized.views))
        return language, normalized.disguises, windows

    def _score(
        self, vectors: Vectors, texts: list[str], uncovered: np.ndarray[Any, Any]
    ) -> tuple[dict[str, np.ndarray[Any, Any]], np.ndarray[Any, Any] | None]:
        """Each clause's score per window, and the networks' kind outputs (the conditions, reporting)."""
        out: dict[str, np.ndarray[Any, Any]] = {}
        kinds = None
        if self._builtin:
            builtin, kinds = self.heads.scores_and_kinds(vectors, texts, uncovered)
            for column, clause_id in self._builtin:
                out[clause_id] = builtin[:, column]
        for clause_id, head in self._custom.items():
            out[clause_id] = head.scores(vectors[:, : self.encoder.sentence_dim])
        return out, kinds

    def _verdict(
        self,
        language: Language,
        disguises: tuple[str, ...],
        windows: list[_Window],
        window_scores: dict[str, np.ndarray[Any, Any]],
        kinds: np.ndarray[Any, Any] | None,
    ) -> Verdict:
        scores: dict[str, float] = {}
        reasons: list[Reason] = []
        crossed: list[tuple[float, str]] = []
        for clause in self.contract.clauses:
            column = window_scores[clause.id]
            best = int(np.argmax(column))
            score = float(column[best])
            scores[clause.id] = score
            conditions: tuple[tuple[str, float], ...] = ()
            if kinds is not None and clause.id in self._conditions:
                conditions = tuple(
                    (name, round(1.0 - float(kinds[best, columns].max()), 4))
                    for name, columns in self._conditions[clause.id]
                )
            reasons.append(
                Reason(clause.id, score, _excerpt(windows[best].text), windows[best].view, conditions)
            )
            if score >= clause.threshold:
                crossed.append((score, clause.id))
        reasons.sort(key=lambda r: -r.score)
        confident = language.supported
        if crossed:
            decision = max(crossed)[1]
            action: Action = self.contract.clause(decision).action
        else:
            decision = ALLOWED
            action = "allow"
        if not confident and action == "allow":
            action = "block" if self.contract.unsupported_language == "block" else "flag"
        return Verdict(
            decision=decision,
            action=action,
            scores=scores,
            reasons=tuple(reasons),
            language=language,
            confident=confident,
            disguises=disguises,
            contract_hash=self.contract_hash,
        )


def shipped_heads() -> Heads:
    """The heads trained by ``redline train`` and shipped inside the package."""
    with resources.as_file(resources.files("redline").joinpath("data", "heads.npz")) as path:
        return Heads.load(path)


def shipped_background() -> list[str]:
    """Everyday lawful texts that contract-defined clauses learn against."""
    text = resources.files("redline").joinpath("data", "background.json").read_text("utf-8")
    return list(json.loads(text))


def windows_of(text: str, *, short: int = SHORT_TEXT_CHARS) -> list[str]:
    """The pieces of ``text`` that are scored: a text of at most ``short`` characters whole; a longer
    one also (or, past ``WHOLE_TEXT_CHARS``, only) by each sentence and each pair of neighbours.

    A pair's sentences are joined by a line break, so the encoder cuts it back into the same two
    sentences and reuses their work (see :class:`redline.encoder.UseEncoder`)."""
    text = text.strip()
    if len(text) <= short:
        return [text]
    units = sentences(text)
    windows = [text] if len(text) <= WHOLE_TEXT_CHARS else []
    if len(units) > 1:
        windows += [s for s in units if len(s) >= MIN_WINDOW_CHARS]
        windows += [f"{a}\n{b}" for a, b in itertools.pairwise(units)]
    return list(dict.fromkeys(windows)) or units[:1]


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


__all__ = ["CONDITIONS", "Reason", "Screen", "Verdict", "windows_of"]
