"""Payment certificates (缴费证明): issued once per payment that stands, printed as a Chinese PDF with
a verification code, and checked by anyone on the public page, which shows the year, whether the
payment stands and the masked name, and nothing else.

PDF text is read back with poppler's pdftotext, so what is checked is what a viewer extracts from
the embedded font.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.urls import reverse
from django.utils import timezone, translation

from accounts.masking import mask_name_keep_ends
from accounts.roles import Role
from accounts.scope import Scope
from collection import codes, documents, services
from collection.models import PaymentCertificate, RefundPaid
from collection.selectors import certificate_check
from collection.views import CertificateCheckThrottle
from tests.collection.support import AMOUNT, QINBI, due, payer

ZHANG = "141002198001010011"
WANG = "141024198505050022"
ON_TIME = timezone.make_aware(dt.datetime(2026, 11, 20, 10, 30))
CODE_FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext (Debian's poppler-utils) is not installed"
)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "certificate.pdf"
    source.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(source), "-"], check=True, capture_output=True
    ).stdout.decode()
    return re.sub(r"[ \t]+", " ", text)


def paid(scope: Scope, person_id: str = ZHANG, name: str = "张小三", region: str | None = None):
    payer(name, person_id, **({"region": region} if region else {}))
    item = due(person_id, **({"region": region} if region else {}))
    return services.payment_record(
        scope=scope,
        due_item_id=item.pk,
        amount_fen=AMOUNT,
        channel="wechat",
        paid_by=name,
        paid_at=ON_TIME,
        backdate_limit=None,
    ).payment


@pytest.fixture
def tax(world) -> Scope:
    return Scope.for_user_id(world.user_for(Role.TAX_STAFF).pk)


@pytest.fixture
def tax_b(world) -> Scope:
    return Scope.for_user_id(world.user_for(Role.TAX_STAFF, "b").pk)


# --- codes and the name mask: plain Python --------------------------------------------------------


def test_given_fresh_codes_then_each_has_sixteen_crockford_characters_in_four_groups_and_they_differ():
    drawn = [codes.code_new() for _ in range(1000)]

    assert all(CODE_FORMAT.match(code) for code in drawn)
    assert len(set(drawn)) == 1000


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("7KQ2-M9XD-4TRB-HW3C", "7KQ2-M9XD-4TRB-HW3C"),
        ("7kq2-m9xd-4trb-hw3c", "7KQ2-M9XD-4TRB-HW3C"),
        ("  7KQ2 M9XD 4TRB HW3C ", "7KQ2-M9XD-4TRB-HW3C"),
        ("7KQ2M9XD4TRBHW3C", "7KQ2-M9XD-4TRB-HW3C"),
        ("7kq2-m9xd4trb hw3c", "7KQ2-M9XD-4TRB-HW3C"),
        ("O0I1-L1AB-CDEF-GHJK", "0011-11AB-CDEF-GHJK"),
        ("7KQ2-M9XD-4TRB-HW3", None),
        ("7KQ2-M9XD-4TRB-HW3CX", None),
        ("7KQ2-M9XD-4TRB-HW3U", None),
        ("", None),
    ],
)
def test_given_what_a_person_typed_then_the_code_is_normalised_or_refused(typed, normalised):
    assert codes.code_normalise(typed) == normalised


@pytest.mark.parametrize(
    ("name", "masked"), [("王五", "王*"), ("张小三", "张*三"), ("欧阳小明", "欧**明"), ("王", "*"), ("", "")]
)
def test_given_a_name_for_a_public_check_then_only_its_ends_stay(name, masked):
    assert mask_name_keep_ends(name) == masked


# --- the service ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_given_a_recorded_payment_when_its_certificate_is_issued_then_it_has_a_code_and_the_masked_name(
    tax, world
):
    payment = paid(tax)

    certificate = services.certificate_issue(scope=tax, payment_id=payment.pk)

    assert CODE_FORMAT.match(certificate.code)
    assert (certificate.payment_id, certificate.masked_name, certificate.issued_by_id) == (
        payment.pk,
        "张*三",
        world.user_for(Role.TAX_STAFF).pk,
    )


@pytest.mark.django_db
def test_given_an_issued_certificate_when_issued_again_then_the_same_certificate_and_code_come_back(tax):
    payment = paid(tax)
    first = services.certificate_issue(scope=tax, payment_id=payment.pk)

    second = services.certificate_issue(scope=tax, payment_id=payment.pk)

    assert (second.pk, second.code) == (first.pk, first.code)
    assert PaymentCertificate.objects.count() == 1


@pytest.mark.django_db
def test_given_a_reversed_payment_when_a_certificate_is_asked_then_it_is_refused_with_the_reason(tax):
    payment = paid(tax)
    services.payment_reverse(scope=tax, payment_id=payment.pk, reason="收错人")

    with pytest.raises(ValidationError) as refused:
        services.certificate_issue(scope=tax, payment_id=payment.pk)

    assert refused.value.messages == [
        "This payment was reversed: there is nothing to certify, and no certificate is issued."
    ]
    assert PaymentCertificate.objects.count() == 0


@pytest.mark.django_db
def test_given_another_countys_payment_when_a_certificate_is_asked_then_it_is_not_found(tax, tax_b):
    payment = paid(tax_b, WANG, "王五", region=QINBI)

    with pytest.raises(Http404):
        services.certificate_issue(scope=tax, payment_id=payment.pk)

    assert PaymentCertificate.objects.count() == 0


@pytest.mark.django_db
def test_given_insurance_staff_when_they_ask_for_a_certificate_then_their_role_may_not(tax, world):
    payment = paid(tax)
    insurance = Scope.for_user_id(world.user_for(Role.INSURANCE_STAFF).pk)

    with pytest.raises(PermissionDenied):
        services.certificate_issue(scope=insurance, payment_id=payment.pk)


@pytest.mark.django_db(transaction=True)
def test_given_ten_issues_of_one_payment_at_once_then_one_certificate_and_one_code(transactional_world):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    scope = Scope.for_user_id(transactional_world.user_for(Role.TAX_STAFF).pk)
    payment = paid(scope)
    start = threading.Barrier(10)

    def issue(_n: int) -> str:
        try:
            start.wait(30)
            return services.certificate_issue(scope=scope, payment_id=payment.pk).code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=10) as pool:
        issued = Counter(pool.map(issue, range(10)))

    assert list(issued.values()) == [10]
    assert PaymentCertificate.objects.get().code == next(iter(issued))


# --- the PDF, built from plain data ---------------------------------------------------------------


def certificate_data(**changes) -> documents.CertificateData:
    data = {
        "name": "张小三",
        "id_number": ZHANG,
        "insurance_year": 2027,
        "amount_fen": 40000,
        "paid_on": dt.date(2026, 11, 20),
        "channel": "微信支付",
        "receipt": "0004-2026-000001",
        "agency": "尧都区税务局",
        "code": "7KQ2-M9XD-4TRB-HW3C",
        "verify_url": "https://portal.example.gov.cn/verify/",
        "issued_on": dt.date(2026, 11, 28),
    }
    return documents.CertificateData(**{**data, **changes})


@needs_poppler
def test_given_a_certificate_when_built_then_the_chinese_text_reads_back_exactly(tmp_path):
    text = pdf_text(documents.certificate_pdf(certificate_data()), tmp_path)

    assert "城乡居民基本医疗保险缴费证明" in text
    assert (
        "兹证明张小三（证件号码：141002********0011）已缴纳2027年度城乡居民基本医疗保险个人缴费，金额人民币400.00元。"
        in re.sub(r"\s+", "", text)
    )
    for line in (
        "缴费人姓名 张小三",
        "证件号码 141002********0011",
        "参保年度 2027 年度",
        "缴费金额 人民币 400.00 元",
        "缴费日期 2026年11月20日",
        "缴费渠道 微信支付",
        "票据号码 0004-2026-000001",
        "收款单位 尧都区税务局",
        "7KQ2-M9XD-4TRB-HW3C",
        "https://portal.example.gov.cn/verify/",
        "开具日期：2026年11月28日",
    ):
        assert line in text, line
    assert ZHANG not in text
    assert "收据" not in text  # the receipt's number is 票据号码, as on the receipt itself
    assert text.startswith("票据号码：0004-2026-000001")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@needs_poppler
@pytest.mark.parametrize(
    ("agency", "expected"),
    [
        ("尧都区税务局", ["尧都区税务局（盖章）"]),
        # A county bureau's full name: name and label on one line.
        ("国家税务总局临汾市尧都区税务局", ["国家税务总局临汾市尧都区税务局（盖章）"]),
        # Longer than the column: the name wraps, the label keeps a line of its own, whole.
        (
            "国家税务总局临汾市尧都区税务局第一税务所办税服务厅",
            ["国家税务总局临汾市尧都区税务局第一税务所办", "税服务厅", "（盖章）"],
        ),
    ],
)
def test_given_an_agency_name_of_any_length_then_the_seal_label_is_never_broken(tmp_path, agency, expected):
    text = pdf_text(documents.certificate_pdf(certificate_data(agency=agency)), tmp_path)

    lines = _lines(text)
    date = lines.index("开具日期：2026年11月28日")
    # The stamp box's caption sits beside the block on one of its lines; it is not the block's text.
    block = [line.replace("收款单位印章", "").strip() for line in lines[date - len(expected) : date]]
    assert block == expected
    assert [line for line in lines if "（盖" in line and "（盖章）" not in line] == []


def test_given_a_certificate_then_it_is_one_a4_portrait_page_with_an_embedded_font_subset():
    pdf = documents.certificate_pdf(certificate_data())

    box = re.search(rb"/MediaBox \[ *([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)", pdf).groups()
    assert (round(float(box[2])), round(float(box[3]))) == (595, 842)
    assert len(re.findall(rb"/Type /Page[^s]", pdf)) == 1
    assert b"/FontFile2" in pdf
    assert certificate_data().check_link == "https://portal.example.gov.cn/verify/?code=7KQ2-M9XD-4TRB-HW3C"


# --- the receipt page, issuing, the download ------------------------------------------------------


@pytest.fixture
def clerk(world, client, settings):
    client.force_login(world.user_for(Role.TAX_STAFF))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.mark.django_db
def test_given_a_recorded_payment_then_its_receipt_offers_the_certificate(clerk, tax):
    payment = paid(tax)

    page = clerk.get(reverse("collection:receipt", args=[payment.pk]))

    assert page.context["can_certify"] is True
    assert 'data-testid="certificate-issue"' in page.content.decode()
    assert page.context["certificate"] is None


@needs_poppler
@pytest.mark.django_db
def test_given_the_button_when_pressed_then_the_certificate_is_issued_and_opens_as_a_pdf(
    clerk, tax, tmp_path
):
    payment = paid(tax)

    issued = clerk.post(reverse("collection:certificate-issue", args=[payment.pk]))

    assert (issued.status_code, issued["Location"]) == (
        302,
        reverse("collection:certificate", args=[payment.pk]),
    )
    response = clerk.get(issued["Location"])
    certificate = PaymentCertificate.objects.get()
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline;")
    text = pdf_text(response.content, tmp_path)
    assert "缴费人姓名 张小三" in text
    assert certificate.code in text
    assert "http://testserver/verify/" in text
    assert "缴费渠道 微信支付" in text  # Chinese on the document, though the clerk reads English
    receipt = clerk.get(reverse("collection:receipt", args=[payment.pk]))
    assert receipt.context["certificate"].code == certificate.code


@pytest.mark.django_db
def test_given_a_reversed_payment_when_the_certificate_is_asked_on_the_page_then_it_is_refused(clerk, tax):
    payment = paid(tax)
    services.payment_reverse(scope=tax, payment_id=payment.pk, reason="收错人")

    response = clerk.post(reverse("collection:certificate-issue", args=[payment.pk]))

    assert response.status_code == 400
    assert response.context["certificate_error"] == (
        "This payment was reversed: there is nothing to certify, and no certificate is issued."
    )
    assert response.context["can_certify"] is False


@pytest.mark.django_db
def test_given_a_certificate_whose_payment_was_reversed_when_opened_again_then_it_is_not_printed(clerk, tax):
    payment = paid(tax)
    services.certificate_issue(scope=tax, payment_id=payment.pk)
    services.payment_reverse(scope=tax, payment_id=payment.pk, reason="收错人")

    response = clerk.get(reverse("collection:certificate", args=[payment.pk]), follow=True)

    assert response.redirect_chain == [(reverse("collection:receipt", args=[payment.pk]), 302)]
    assert [str(m) for m in response.context["messages"]] == [
        "This payment was reversed: its certificate is void and is not printed again."
    ]


@pytest.mark.django_db
def test_given_a_payment_without_certificate_when_its_pdf_is_asked_then_it_is_not_found(clerk, tax):
    payment = paid(tax)

    assert clerk.get(reverse("collection:certificate", args=[payment.pk])).status_code == 404


# --- the public check -----------------------------------------------------------------------------


@pytest.fixture
def anonymous(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def check(client, code: str, **extra):
    return client.get(reverse("certificate-verify"), {"code": code}, **extra)


@pytest.mark.django_db
def test_given_no_sign_in_when_the_check_page_is_opened_then_it_shows_the_form(anonymous):
    page = anonymous.get(reverse("certificate-verify"))

    assert page.status_code == 200
    assert page.context["checked"] is False
    assert 'data-testid="verify-form"' in page.content.decode()


@pytest.mark.django_db
def test_given_a_valid_code_when_checked_without_sign_in_then_year_status_and_masked_name_only(
    anonymous, tax
):
    payment = paid(tax)
    certificate = services.certificate_issue(scope=tax, payment_id=payment.pk)

    page = check(anonymous, certificate.code)

    html = page.content.decode()
    result = page.context["result"]
    assert page.status_code == 200
    assert (result.insurance_year, result.valid, result.masked_name) == (2027, True, "张*三")
    assert "Valid: the contribution was paid." in html
    for secret in ("张小三", ZHANG, "141002********0011", payment.receipt, "400.00"):
        assert secret not in html, secret


@pytest.mark.django_db
def test_given_a_reversed_payment_when_its_code_is_checked_then_it_shows_not_valid(anonymous, tax):
    payment = paid(tax)
    certificate = services.certificate_issue(scope=tax, payment_id=payment.pk)
    services.payment_reverse(scope=tax, payment_id=payment.pk, reason="收错人")

    page = check(anonymous, certificate.code)

    result = page.context["result"]
    assert (page.status_code, result.insurance_year, result.valid, result.masked_name) == (
        200,
        2027,
        False,
        "张*三",
    )
    assert "Not valid: the payment was reversed." in page.content.decode()
    assert "收错人" not in page.content.decode()


@pytest.mark.django_db
def test_given_an_unknown_code_when_checked_then_the_same_page_says_no_certificate_has_it(anonymous, tax):
    services.certificate_issue(scope=tax, payment_id=paid(tax).pk)

    page = check(anonymous, "7KQ2-M9XD-4TRB-HW3C")

    assert (page.status_code, page.context["checked"], page.context["result"], page.context["malformed"]) == (
        200,
        True,
        None,
        False,
    )
    assert "No certificate has this code." in page.content.decode()


@pytest.mark.django_db
def test_given_text_that_cannot_be_a_code_when_checked_then_no_certificate_and_the_format_is_shown(anonymous):
    page = check(anonymous, "not a code")

    html = page.content.decode()
    assert (page.status_code, page.context["result"], page.context["malformed"]) == (200, None, True)
    assert "No certificate has this code." in html
    assert "A code has 16 letters and digits in four groups" in html


@pytest.mark.django_db
def test_given_a_code_typed_in_lower_case_with_spaces_and_no_dashes_then_it_is_found(anonymous, tax):
    certificate = services.certificate_issue(scope=tax, payment_id=paid(tax).pk)
    plain = certificate.code.replace("-", "").lower()

    answers = [
        check(anonymous, typed).context["result"]
        for typed in (plain, " ".join(certificate.code.split("-")).lower(), f"  {plain[:7]} {plain[7:]}  ")
    ]

    assert [(a.insurance_year, a.valid) for a in answers] == [(2027, True)] * 3


@pytest.mark.django_db
def test_given_many_checks_from_one_address_then_the_next_one_is_refused_with_429(anonymous):
    allowed = CertificateCheckThrottle().num_requests

    statuses = [check(anonymous, "7KQ2-M9XD-4TRB-HW3C").status_code for _ in range(allowed)]
    refused = check(anonymous, "7KQ2-M9XD-4TRB-HW3C")
    elsewhere = check(anonymous, "7KQ2-M9XD-4TRB-HW3C", REMOTE_ADDR="10.1.2.3")
    blank_form = anonymous.get(reverse("certificate-verify"))

    assert (allowed, Counter(statuses)) == (30, {200: 30})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many checks from your address." in refused.content.decode()
    assert refused.context.get("result") is None
    assert (elsewhere.status_code, blank_form.status_code) == (200, 200)


# --- money that went back through insurance ------------------------------------------------------
# Insurance's refunds leave the payment recorded on tax's side (docs/refunds.md): the certificate
# states what stands of the payment, and certifies nothing once all of it went back.

REFUNDED_ALL = (
    "All of this payment was paid back, or is being paid back, through the medical insurance bureau: "
    "there is nothing to certify, and no certificate is issued or printed."
)


def refunded_by_insurance(payment, amount_fen: int = AMOUNT) -> RefundPaid:
    """Tax's record of a refund insurance paid out on the payment's receipt (refund.monthly_details)."""
    return RefundPaid.objects.create(
        refund_id=9, person_id=payment.person_id, region_code=payment.region_code, month="2026-11",
        amount_fen=amount_fen, receipt_number=payment.receipt, paid_on=dt.date(2026, 11, 25),
        source_message_id=1,
    )  # fmt: skip


def overcollected(scope: Scope, payment, amount_fen: int):
    return services.overcollection_request(
        scope=scope, receipt=payment.receipt, amount_fen=amount_fen, reason="wrong_amount"
    )


@pytest.mark.django_db
def test_given_a_payment_insurance_paid_back_when_a_certificate_is_asked_then_it_is_refused(tax):
    # given: insurance paid the whole contribution back (a death before the benefit period)
    payment = paid(tax)
    refunded_by_insurance(payment)

    # when
    with pytest.raises(ValidationError) as refused:
        services.certificate_issue(scope=tax, payment_id=payment.pk)

    # then
    assert refused.value.messages == [REFUNDED_ALL]
    assert PaymentCertificate.objects.count() == 0


@pytest.mark.django_db
def test_given_the_whole_payment_reported_as_over_collected_when_a_certificate_is_asked_then_it_is_refused(
    tax,
):
    # given: tax asked insurance to give all of it back (not paid out yet)
    payment = paid(tax)
    overcollected(tax, payment, AMOUNT)

    # when
    with pytest.raises(ValidationError) as refused:
        services.certificate_issue(scope=tax, payment_id=payment.pk)

    # then
    assert refused.value.messages == [REFUNDED_ALL]


@pytest.mark.django_db
def test_given_a_payment_paid_back_then_its_receipt_offers_no_certificate(clerk, tax):
    # given
    payment = paid(tax)
    refunded_by_insurance(payment)

    # when
    page = clerk.get(reverse("collection:receipt", args=[payment.pk]))

    # then
    assert (page.context["can_certify"], page.context["certificate_refusal"]) == (False, REFUNDED_ALL)
    assert 'data-testid="certificate-issue"' not in page.content.decode()


@pytest.mark.django_db
def test_given_a_certificate_whose_payment_was_paid_back_when_opened_again_then_it_is_not_printed(clerk, tax):
    # given: certified, then insurance paid it back
    payment = paid(tax)
    services.certificate_issue(scope=tax, payment_id=payment.pk)
    refunded_by_insurance(payment)

    # when
    response = clerk.get(reverse("collection:certificate", args=[payment.pk]), follow=True)

    # then
    assert response.redirect_chain == [(reverse("collection:receipt", args=[payment.pk]), 302)]
    assert [str(m) for m in response.context["messages"]] == [REFUNDED_ALL]
    assert 'data-testid="certificate-void"' in response.content.decode()


@pytest.mark.django_db
def test_given_a_certificate_whose_payment_was_paid_back_when_its_code_is_checked_then_it_shows_not_valid(
    anonymous, tax
):
    # given
    payment = paid(tax)
    certificate = services.certificate_issue(scope=tax, payment_id=payment.pk)
    refunded_by_insurance(payment)

    # when
    page = check(anonymous, certificate.code)

    # then: still the year and the masked name only, and why it is not valid
    html = page.content.decode()
    result = page.context["result"]
    assert (result.insurance_year, result.valid, result.refunded, result.masked_name) == (
        2027,
        False,
        True,
        "张*三",
    )
    assert "Not valid: the contribution was paid back." in html
    for secret in ("张小三", ZHANG, payment.receipt, "400.00", "refund 9"):
        assert secret not in html, secret


@needs_poppler
@pytest.mark.django_db
def test_given_part_of_a_payment_reported_as_over_collected_then_the_certificate_states_what_stands(
    clerk, tax, anonymous, tmp_path
):
    # given: 400 yuan taken, 100 of them too much and reported for refund
    payment = paid(tax)
    overcollected(tax, payment, 10000)

    # when
    issued = clerk.post(reverse("collection:certificate-issue", args=[payment.pk]))
    response = clerk.get(issued["Location"])

    # then: 300 yuan certified, the receipt's 400 explained, and the code checks as valid
    text = pdf_text(response.content, tmp_path)
    assert "金额人民币 300.00 元" in text
    assert "人民币 300.00 元（大写：叁佰元整）" in text
    assert "（票据金额 400.00 元，其中 100.00 元已退还或正在退还）" in text
    result = certificate_check(code=PaymentCertificate.objects.get().code)
    assert (result.valid, result.refunded) == (True, False)
