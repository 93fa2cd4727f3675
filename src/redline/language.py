"""Which language a text is in, and whether the screen's encoder was trained on it.

The encoder (multilingual USE v3) was trained on 16 languages. A text in any other language still gets
scores, but they mean less; :func:`detect` says so, so that the verdict can be marked low-confidence and
the contract can decide what to do. Detection is by script first (exact for most scripts), then, for
Latin and Cyrillic text, by the share of each language's most frequent short words.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass

ENCODER_LANGUAGES = frozenset(
    {"ar", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru", "th", "tr", "zh"}
)
UNDETERMINED = "und"

# (first code point, last code point, language or script tag)
_SCRIPTS: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x024F, "latin"),
    (0x1E00, 0x1EFF, "latin"),
    (0x0370, 0x03FF, "el"),
    (0x0400, 0x052F, "cyrillic"),
    (0x0530, 0x058F, "hy"),
    (0x0590, 0x05FF, "he"),
    (0x0600, 0x06FF, "arabic"),
    (0x0750, 0x077F, "arabic"),
    (0x0900, 0x097F, "hi"),
    (0x0980, 0x09FF, "bn"),
    (0x0A00, 0x0A7F, "pa"),
    (0x0A80, 0x0AFF, "gu"),
    (0x0B80, 0x0BFF, "ta"),
    (0x0C00, 0x0C7F, "te"),
    (0x0C80, 0x0CFF, "kn"),
    (0x0D00, 0x0D7F, "ml"),
    (0x0D80, 0x0DFF, "si"),
    (0x0E00, 0x0E7F, "th"),
    (0x0E80, 0x0EFF, "lo"),
    (0x1000, 0x109F, "my"),
    (0x10A0, 0x10FF, "ka"),
    (0x1200, 0x139F, "am"),
    (0x1780, 0x17FF, "km"),
    (0x3040, 0x30FF, "kana"),
    (0x31F0, 0x31FF, "kana"),
    (0x3400, 0x4DBF, "han"),
    (0x4E00, 0x9FFF, "han"),
    (0xF900, 0xFAFF, "han"),
    (0x1100, 0x11FF, "ko"),
    (0x3130, 0x318F, "ko"),
    (0xAC00, 0xD7AF, "ko"),
)

_STOPWORDS: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and of to in is that for it with as on are this be by you not or from at have all "
        "our we can how what which will an they their please would should my me",
        "fr": "le la les des et est une un du pour que qui dans sur pas par avec ce cette sont au aux "
        "nous vous leur tous toutes il elle comment faire mes",
        "de": "der die das und ist nicht ein eine zu den mit von für auf dem des sich im wie auch "
        "werden wir sie alle unsere bitte kann oder",
        "es": "el la los las de y que en un una por para con no es del se al como su sus todos "
        "nuestros cómo hacer puedes qué",
        "it": "il lo la gli le di e che un una per con non è del della dei sono come nostri tutti "
        "anche questo questa ci può fare",
        "pt": "o a os as de e que em um uma para com não é do da dos das no na como seus todos "
        "nossos você pode fazer isso",
        "nl": "de het een en van is dat op te in voor met niet zijn ook aan er als bij wij onze alle "
        "hoe kun je wat",
        "pl": "i w na nie się z do że to jest jak o dla po od przez są wszystkich naszych czy może "
        "jako ich oraz",
        "tr": "ve bir bu da de için ile ne çok olarak gibi daha sonra tüm bütün nasıl mi mı değil "
        "olan ama kadar",
        "sv": "och att det som är en på av för med till den har inte om ett jag vi alla våra hur kan",
        "da": "og at det som er en på af for med til den har ikke om et jeg vi alle vores hvordan kan",
        "no": "og at det som er en på av for med til den har ikke om et jeg vi alle våre hvordan kan",
        "fi": "ja on ei että se oli hän ovat mitä kuin tai myös kaikki meidän miten voi",
        "cs": "a je se na v že to s z do jak ale jsou pro by od všechny naše jeho",
        "sk": "a je sa na v že to s z do ako ale sú pro by od všetky naše jeho",
        "ro": "și în de la cu nu este că pe un o ce sunt pentru din toate noștri cum",
        "hu": "a az és hogy nem is egy van meg de ezt mint minden hogyan kell",
        "id": "dan yang di ini itu dengan untuk tidak dari dalam akan ke pada semua kami kita bagaimana",
        "vi": "và của là có không được cho với những các một người này trong tất cả chúng tôi làm",
        "sw": "na ya wa kwa ni katika za la kuwa hii wote yetu jinsi",
        "hr": "i je u na da se za su od s kako ali sve naše",
        "ca": "el la els les de i que en un una per amb no és del com tots",
        "ru": "и в не на что я с он как это по но из у к же все наших всех для как сделать",
        "uk": "і в не на що я з він як це по але із у до же всі наших всіх для зробити",
        "bg": "и в не на че аз с той как това по но от за да се всички наши",
        "sr": "и у не на да се за су од са како али све наше",
    }.items()
}
_SUPPORTED_LATIN_HINTS = {"ı": "tr", "ğ": "tr", "ş": "tr", "ł": "pl", "ą": "pl", "ę": "pl", "ß": "de"}
_OTHER_LATIN_HINTS = {
    "ř": "cs",
    "ě": "cs",
    "ů": "cs",
    "ő": "hu",
    "ű": "hu",
    "ț": "ro",
    "ș": "ro",
    "ă": "ro",
    "ơ": "vi",
    "ư": "vi",
    "đ": "vi",
    "ạ": "vi",
    "ả": "vi",
    "ấ": "vi",
    "ầ": "vi",
    "ệ": "vi",
    "ộ": "vi",
    "å": "sv",
}
_CYRILLIC_HINTS = {
    "ї": "uk",
    "є": "uk",
    "ґ": "uk",
    "ў": "be",
    "ђ": "sr",
    "ћ": "sr",
    "џ": "sr",
    "љ": "sr",
    "њ": "sr",
}
_ARABIC_HINTS = {
    "پ": "fa",
    "چ": "fa",
    "ژ": "fa",
    "گ": "fa",
    "ک": "fa",
    "ی": "fa",
    "ٹ": "ur",
    "ڈ": "ur",
    "ڑ": "ur",
    "ں": "ur",
    "ے": "ur",
}
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # ISO 639-1, or "und" when the text has too few letters to tell
    supported: bool  # the encoder was trained on it
    confidence: float  # 0..1, how sure the detection is


def detect(text: str) -> Language:
    scripts = Counter(map(_script_of, filter(str.isalpha, text)))
    letters = sum(scripts.values())
    if letters < 3:
        return Language(UNDETERMINED, True, 0.0)
    script, count = scripts.most_common(1)[0]
    share = count / letters
    if script == "kana" or (script == "han" and scripts["kana"] >= 0.05 * letters):
        return Language("ja", True, share)
    if script == "han":
        return Language("zh", True, share)
    if script == "arabic":
        code = _hinted(text, _ARABIC_HINTS, "ar", min_hits=2)
        return Language(code, code in ENCODER_LANGUAGES, share)
    if script == "cyrillic":
        hinted = _hinted(text, _CYRILLIC_HINTS, "", min_hits=1)
        code = hinted or _by_stopwords(text, ("ru", "uk", "bg", "sr"), default="ru")[0]
        return Language(code, code in ENCODER_LANGUAGES, share)
    if script == "latin":
        code, conf = _latin(text)
        return Language(code, code in ENCODER_LANGUAGES or code == UNDETERMINED, conf * share)
    if script == "other":
        return Language(UNDETERMINED, False, share)
    return Language(script, script in ENCODER_LANGUAGES, share)


@functools.lru_cache(maxsize=4096)
def _script_of(ch: str) -> str:
    return _script(ord(ch))


def _script(cp: int) -> str:
    for lo, hi, tag in _SCRIPTS:
        if lo <= cp <= hi:
            return tag
    return "other"


def _hinted(text: str, hints: dict[str, str], default: str, *, min_hits: int) -> str:
    votes = Counter(hints[ch] for ch in text.lower() if ch in hints)
    if votes:
        code, hits = votes.most_common(1)[0]
        if hits >= min_hits:
            return code
    return default


def _latin(text: str) -> tuple[str, float]:
    lowered = text.lower()
    other = _hinted(lowered, _OTHER_LATIN_HINTS, "", min_hits=2)
    supported_hint = _hinted(lowered, _SUPPORTED_LATIN_HINTS, "", min_hits=1)
    code, conf = _by_stopwords(text, tuple(_STOPWORDS), default=UNDETERMINED)
    if other and not supported_hint and code not in ENCODER_LANGUAGES:
        return other, max(conf, 0.6)
    if other and code == UNDETERMINED:
        return other, 0.6
    if code == UNDETERMINED and supported_hint:
        return supported_hint, 0.5
    return code, conf


def _by_stopwords(text: str, languages: tuple[str, ...], *, default: str) -> tuple[str, float]:
    words = _TOKEN.findall(text.lower())
    if len(words) < 3:
        return default, 0.0
    counts = Counter(words)
    hits = {lang: sum(counts[w] for w in _STOPWORDS[lang].intersection(counts)) for lang in languages}
    best = max(hits, key=lambda lang: hits[lang])
    if hits[best] == 0:
        return default, 0.0
    ranked = sorted(hits.values(), reverse=True)
    margin = (ranked[0] - ranked[1]) / ranked[0] if len(ranked) > 1 else 1.0
    return best, min(1.0, 0.5 + margin / 2)


__all__ = ["ENCODER_LANGUAGES", "UNDETERMINED", "Language", "detect"]
