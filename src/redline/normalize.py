"""Undo the disguises people put on a text before it is screened.

:func:`normalize` returns the text as a reader would see it — look-alike letters folded, invisible
characters dropped, spaced-out and leet-spelt words put back together — and every payload hidden in
it (base64, hex, rot13, percent-encoding) decoded as a separate *view*, so the screen scores what the
model behind the gateway would understand, not what a keyword filter sees.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

# Characters that render as nothing or steer rendering, never meaning.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]"
)

# Latin letters and their Cyrillic / Greek look-alikes; a word written mostly in one script gets
# the others' look-alikes folded back into it.
_CYRILLIC_LIKE_LATIN = dict(
    zip(
        "аеорсухіјѕԁԛԝАВЕКМНОРСТХІЈЅ",
        "aeopcyxijsdqwABEKMHOPCTXIJS",
        strict=True,
    )
)
_GREEK_LIKE_LATIN = dict(zip("αοιρτυνκΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "aoiptuvkABEZHIKMNOPTYX", strict=True))
_TO_LATIN = str.maketrans({**_CYRILLIC_LIKE_LATIN, **_GREEK_LIKE_LATIN})
_LATIN_LIKE_CYRILLIC = str.maketrans(
    {latin: cyr for cyr, latin in _CYRILLIC_LIKE_LATIN.items() if latin in "aeopcyxABEKMHOPCTX"}
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_LATIN_LETTER = re.compile(r"[A-Za-z]")
_CYRILLIC_OR_GREEK = re.compile(r"[\u0370-\u04ff]")

# s u r v e i l l a n c e / s.u.r.v.e.i.l / s-u-r-v: four or more single letters, one separator.
_SPACED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_]([ .\-_*·/|])){3,}[^\W\d_](?![^\W\d_])")

_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "€": "e",
    }
)
# A token with at least one leet character in it (the possessive run of letters keeps it linear).
_LEET_TOKEN = re.compile(r"(?<![A-Za-z0-9@$!|€])[A-Za-z]*+[0-9@$!|€][A-Za-z0-9@$!|€]*")
_LEET_CHARS = set("0134578@$!|€")

_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{12,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[ :]?){8,}(?![0-9A-Fa-f])")
_ENCODED_RUN = re.compile(f"({_BASE64_RUN.pattern}|{_HEX_RUN.pattern})")
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2}[^\s%]{0,3}){4,}")

_ENGLISH_COMMON = frozenset(
    """the and of to a in for is on that with all every our you your how what who this it be are from by
    as at or an can will we they their them make build write code list find each any people track data
    system when where which about into after should would could please use using give get need show me
    my then not no do does""".split()
)


@dataclass(frozen=True, slots=True)
class View:
    """One readable form of (part of) the text: the text itself, or a payload decoded from it."""

    text: str
    kind: str  # "text", "base64", "hex", "rot13", "percent"


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str
    views: tuple[View, ...]
    disguises: tuple[str, ...]  # what was undone, for the verdict's reasons


def normalize(text: str, *, depth: int = 2) -> Normalized:
    disguises: list[str] = []
    clean = unicodedata.normalize("NFKC", text)
    if clean != text and any(unicodedata.normalize("NFKC", ch) != ch for ch in text if ch.isalnum()):
        disguises.append("compatibility-characters")  # full-width or "mathematical" letters, not punctuation
    stripped = _INVISIBLE.sub("", clean)
    if stripped != clean:
        disguises.append("invisible-characters")

    payloads = _payloads(stripped) if depth > 0 else []
    # A decoded payload is read in its own view; in the text view it would only be noise that looks
    # like no language. Runs that decode to nothing readable (hashes, keys) stay as they are, and the
    # letter-level repairs below leave every encoded run alone.
    for _, _, run in payloads:
        stripped = stripped.replace(run, " ") if run else stripped
    pieces = _ENCODED_RUN.split(stripped)
    repaired: list[str] = []
    for n, piece in enumerate(pieces):
        if n % 2:
            repaired.append(piece)
            continue
        for name, repair in _REPAIRS:
            fixed = repair(piece)
            if fixed != piece:
                disguises.append(name)
            piece = fixed  # each repair works on the previous one's output
        repaired.append(piece)
    clean = re.sub(r"[ \t]+", " ", "".join(repaired)).strip()

    views = [View(clean, "text")] if clean else []
    for payload, kind, _ in payloads:
        inner = normalize(payload, depth=depth - 1)
        disguises.append(kind)
        views.extend(View(v.text, kind if v.kind == "text" else v.kind) for v in inner.views)
        disguises.extend(inner.disguises)
    return Normalized(clean, tuple(views), tuple(dict.fromkeys(disguises)))


def _fold_look_alikes(text: str) -> str:
    if not (_LATIN_LETTER.search(text) and _CYRILLIC_OR_GREEK.search(text)):
        return text  # one script alone: nothing can be mixed into it
    return _WORD.sub(_fold_confusables, text)


def _fold_confusables(match: re.Match[str]) -> str:
    word = match.group(0)
    if len(word) < 2 or word.isascii() or not _LATIN_LETTER.search(word):
        return word
    latin = sum(1 for ch in word if "a" <= ch.lower() <= "z")
    cyrillic = sum(1 for ch in word if "\u0400" <= ch <= "\u04ff")
    greek = sum(1 for ch in word if "\u0370" <= ch <= "\u03ff")
    if latin and (cyrillic or greek) and latin >= cyrillic + greek:
        return word.translate(_TO_LATIN)
    if cyrillic and latin and cyrillic > latin:
        return word.translate(_LATIN_LIKE_CYRILLIC)
    return word


def _unleet_token(token: str, *, lenient: bool) -> str:
    leet = sum(1 for ch in token if ch in _LEET_CHARS)
    letters = sum(1 for ch in token if ch.isalpha())
    if not leet or token.isdigit() or letters < (1 if lenient else 2):
        return token
    # "mp3", "utf8", "3d" keep their digits: one substitution counts only between letters or
    # before two of them ("4ll", "$py"), unless the text is plainly leet-spelt (lenient).
    if (
        not lenient
        and leet == 1
        and not re.search(r"[A-Za-z][0-9@$!|€][A-Za-z]|^[0-9@$!|€][A-Za-z]{2}", token)
    ):
        return token
    return token.translate(_LEET)


def _unleet(text: str) -> str:
    """Leet-spelt words put back. Where at least two words are plainly leet-spelt, the text is, so the
    short words between them are read the same way too: "th3", "t0", "0n", "4t", "n0"."""
    strict = [0]

    def repair(match: re.Match[str]) -> str:
        fixed = _unleet_token(match.group(0), lenient=False)
        strict[0] += fixed != match.group(0)
        return fixed

    repaired = _LEET_TOKEN.sub(repair, text)
    if strict[0] < 2:
        return repaired
    return _LEET_TOKEN.sub(lambda m: _unleet_token(m.group(0), lenient=True), repaired)


_REPAIRS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("look-alike-letters", _fold_look_alikes),
    ("spaced-letters", lambda t: _SPACED.sub(lambda m: re.sub(r"[ .\-_*·/|]", "", m.group(0)), t)),
    ("leetspeak", _unleet),
)


def _payloads(text: str) -> list[tuple[str, str, str]]:
    """(decoded text, encoding, the run it was decoded from; "" when the whole text was encoded)."""
    found: list[tuple[str, str, str]] = []
    for run in _BASE64_RUN.findall(text):
        decoded = _decode_base64(run)
        if decoded:
            found.append((decoded, "base64", run))
    for run in _HEX_RUN.findall(text):
        decoded = _decode_hex(run)
        if decoded:
            found.append((decoded, "hex", run))
    for run in _PERCENT_RUN.findall(text):
        decoded = unquote(run)
        if decoded != run and _readable(decoded):
            found.append((decoded, "percent", run))
    rot = codecs.decode(text, "rot13")
    if _english_ratio(rot) >= 0.25 and _english_ratio(rot) > 2 * _english_ratio(text):
        found.append((rot, "rot13", ""))
    return found


def _decode_base64(run: str) -> str | None:
    if re.fullmatch(r"[A-Za-z]+|[0-9]+", run.rstrip("=")):
        return None  # a long word or number, not a payload
    padded = run + "=" * (-len(run) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_" if ("-" in run or "_" in run) else None, validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return decoded if _readable(decoded) else None


def _decode_hex(run: str) -> str | None:
    try:
        decoded = bytes.fromhex(re.sub(r"[ :]", "", run)).decode("utf-8")
    except ValueError:
        return None
    return decoded if _readable(decoded) else None


def _readable(text: str) -> bool:
    if len(text) < 4:
        return False
    letters = sum(1 for ch in text if ch.isalpha())
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\t")
    return printable == len(text) and letters >= 0.5 * len(text.replace(" ", ""))


def _english_ratio(text: str) -> float:
    words = re.findall(r"[a-z]+", text.lower())
    if len(words) < 3:
        return 0.0
    return sum(1 for w in words if w in _ENGLISH_COMMON) / len(words)


__all__ = ["Normalized", "View", "normalize"]
