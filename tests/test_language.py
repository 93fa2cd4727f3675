from __future__ import annotations

import pytest

from redline.language import detect


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Bonjour, comment faire pour suivre tous les colis de la semaine ?", "fr"),
        ("Wie kann ich alle Rechnungen der Firma auf einmal drucken?", "de"),
        ("How do I print every invoice of the company at once?", "en"),
        ("Jak mogę wydrukować wszystkie faktury firmy naraz?", "pl"),
        ("Tüm faturaları nasıl yazdırabilirim?", "tr"),
        ("Как распечатать все счета компании сразу?", "ru"),
        ("如何一次打印公司的所有发票？", "zh"),
        ("会社の請求書をすべて一度に印刷するには？", "ja"),
        ("회사의 모든 송장을 한 번에 인쇄하려면?", "ko"),
        ("كيف أطبع جميع فواتير الشركة دفعة واحدة؟", "ar"),
        ("ฉันจะพิมพ์ใบแจ้งหนี้ทั้งหมดได้อย่างไร", "th"),
    ],
)
def test_encoder_languages_are_supported(text: str, code: str) -> None:
    language = detect(text)
    assert language.code == code
    assert language.supported


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("איך אני מדפיס את כל החשבוניות של החברה?", "he"),
        ("मैं कंपनी के सभी चालान एक साथ कैसे प्रिंट करूं?", "hi"),
        ("Hur skriver jag ut alla fakturor på en gång och vad kan vi göra?", "sv"),
        ("Bagaimana cara mencetak semua faktur dari perusahaan kami?", "id"),
        ("Làm thế nào để in tất cả hóa đơn của công ty?", "vi"),
        ("Як надрукувати всі рахунки компанії одразу? Це її завдання", "uk"),
        ("Πώς μπορώ να εκτυπώσω όλα τα τιμολόγια;", "el"),
    ],
)
def test_other_languages_are_named_and_unsupported(text: str, code: str) -> None:
    language = detect(text)
    assert language.code == code
    assert not language.supported


def test_too_little_text_is_undetermined_not_unsupported() -> None:
    language = detect("42 + 7")
    assert language.code == "und"
    assert language.supported
