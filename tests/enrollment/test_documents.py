"""The printable documents: the registration form (参保登记表) and the publicity list (公示名单).

PDF text is read back with poppler's pdftotext (Debian's poppler-utils), so what is checked is
what a viewer extracts from the embedded font, not what the builder meant to write. Chinese is
the active language, as for the clerks.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation
from openpyxl import load_workbook

from accounts.pdf import MISSING_GLYPH, font_search_path, font_stack
from accounts.roles import Role
from enrollment import documents
from enrollment.models import (
    ChangeReason,
    Enrollment,
    EnrollmentStatus,
    Household,
    HouseholdKind,
    Person,
    PersonCategory,
    Relation,
)
from tests.conftest import World

YAODU_VILLAGE = "141002100201"
HONGDONG_VILLAGE = "141024100201"
ZENHEI = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
CFF_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
PERIOD = documents.PostingPeriod(dt.date(2026, 5, 1), dt.date(2026, 5, 7))

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext (Debian's poppler-utils) is not installed"
)


@pytest.fixture(autouse=True)
def _chinese():
    with translation.override("zh-hans"):
        yield


@pytest.fixture
def fresh_fonts():
    """Let a test change where fonts are found; the next document loads the usual ones again."""
    documents.fonts.cache_clear()
    yield
    documents.fonts.cache_clear()


def pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    source = tmp_path / "document.pdf"
    source.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(source), "-"], check=True, capture_output=True
    ).stdout.decode()
    return text.split("\f")[:-1]


def squeeze(text: str) -> str:
    """pdftotext's layout spaces out table columns; compare text without runs of spaces."""
    return re.sub(r"[ \t]+", " ", text)


def compact(text: str) -> str:
    """Without any white space: pdftotext may drop the spaces of a line drawn in one piece."""
    return re.sub(r"\s+", "", text)


def media_box(pdf: bytes) -> tuple[float, float]:
    x0, y0, x1, y1 = (
        float(v) for v in re.search(rb"/MediaBox \[ *([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)", pdf).groups()
    )
    return round(x1 - x0), round(y1 - y0)


def form_data(*members: documents.FormMember) -> documents.HouseholdFormData:
    return documents.HouseholdFormData(
        household_number="14100210020100001",
        village="山西省临汾市尧都区屯里镇屯里村",
        village_code=YAODU_VILLAGE,
        kind="户籍",
        address="屯里村三组12号",
        members=list(members),
        printed_on=dt.date(2026, 5, 1),
        printed_by="屯里村村民委员会",
    )


def member(name: str, id_number: str = "141002196803121234", relation: str = "户主") -> documents.FormMember:
    return documents.FormMember(
        name=name,
        relation=relation,
        sex="男",
        birth_date="1968-03-12",
        id_kind="居民身份证",
        id_number=id_number,
        category="农村居民",
        ethnicity="汉族",
        phone="13903571234",
    )


def publicity_row(number: int, name: str = "张伟") -> documents.PublicityRow:
    return documents.PublicityRow(
        household_number=f"141002100201{number // 4 + 1:05d}",
        name=name,
        sex="女",
        id_number=f"14100219900101{number:04d}",
        relation="户主" if number % 4 == 0 else "子女",
        category="农村居民",
        enrolled_on=dt.date(2026, 1, 1),
    )


def publicity_data(
    rows: list[documents.PublicityRow], phone: str = "0357-2345678"
) -> documents.PublicityListData:
    return documents.PublicityListData(
        village="山西省临汾市尧都区屯里镇屯里村",
        village_code=YAODU_VILLAGE,
        period=PERIOD,
        total=len(rows),
        rows=rows,
        printed_on=dt.date(2026, 5, 1),
        objection_phone=phone,
    )


# --- the registration form, built from plain data ---------------------------------------------


@needs_poppler
def test_given_a_household_when_its_form_is_built_then_the_chinese_text_reads_back_exactly(tmp_path):
    pdf = documents.household_form_pdf(
        form_data(member("王建国"), member("李秀兰", "14100219700701202X", "配偶"))
    )

    [page] = pdf_pages(pdf, tmp_path)
    text = squeeze(page)
    assert "城乡居民基本医疗保险参保登记表" in text
    assert "户号 14100210020100001" in text
    assert "山西省临汾市尧都区屯里镇屯里村（141002100201）" in text
    assert "1 王建国 户主 男 汉族 1968-03-12 居民身份证 141002196803121234 农村居民 13903571234" in text
    assert "2 李秀兰 配偶 男 汉族 1968-03-12 居民身份证 14100219700701202X 农村居民 13903571234" in text
    assert "家庭成员（共 2 人）" in text


@needs_poppler
def test_given_a_household_form_then_it_has_the_signature_lines_and_the_seal_box(tmp_path):
    pdf = documents.household_form_pdf(form_data(member("王建国")))

    text = squeeze(pdf_pages(pdf, tmp_path)[0])
    assert "申报人签字：" in text
    assert "村（居）委会经办人签字：" in text
    assert "日期：________年______月______日" in text
    assert "村（居）委会（盖章）" in text
    assert "第1页/共1页" in compact(text)


def test_given_a_household_form_then_it_embeds_its_truetype_font_and_nothing_else():
    pdf = documents.household_form_pdf(form_data(member("王建国")))

    assert pdf.count(b"/FontFile2") == 1
    assert b"+WenQuanYiMicroHei" in pdf
    assert b"/Helvetica" not in pdf
    assert b"/FontFile3" not in pdf


def test_given_a_household_form_then_it_is_a4_portrait():
    pdf = documents.household_form_pdf(form_data(member("王建国")))

    assert media_box(pdf) == (595, 842)


# --- fonts ------------------------------------------------------------------------------------


def test_given_no_font_anywhere_when_a_document_is_built_then_the_error_says_where_it_looked_and_what_to_install(
    monkeypatch, fresh_fonts
):
    monkeypatch.setattr(
        documents, "font_search_path", lambda: [documents.FontSource(Path("/nowhere/font.ttf"))]
    )

    with pytest.raises(documents.FontNotFound) as raised:
        documents.household_form_pdf(form_data(member("王建国")))

    assert "/nowhere/font.ttf" in str(raised.value)
    assert "paperang-p2-fonts-cjk" in str(raised.value)
    assert "fonts-wqy-microhei" in str(raised.value)


@pytest.mark.skipif(not CFF_FONT.exists(), reason="Debian's fonts-noto-cjk is not installed")
def test_given_a_cff_font_configured_when_a_document_is_built_then_it_is_refused_with_the_reason(
    monkeypatch, fresh_fonts
):
    monkeypatch.setenv(documents.FONT_ENV, str(CFF_FONT))

    with pytest.raises(documents.FontNotFound) as raised:
        documents.household_form_pdf(form_data(member("王建国")))

    assert "TrueType" in str(raised.value)
    assert str(CFF_FONT) in str(raised.value)


def test_given_a_configured_font_that_is_not_a_file_then_it_is_refused_rather_than_skipped(
    monkeypatch, fresh_fonts
):
    monkeypatch.setenv(documents.FONT_ENV, "/nowhere/font.ttc#1")

    with pytest.raises(documents.FontNotFound, match=re.escape("/nowhere/font.ttc")):
        documents.fonts()


def test_given_a_character_no_font_has_then_it_prints_as_the_missing_glyph_mark(fresh_fonts):
    package_font = documents._package_font()[0]
    stack = documents.FontStack([package_font])

    assert stack.runs("王䶮") == [(stack.primary, "王〓")]


@needs_poppler
@pytest.mark.skipif(not ZENHEI.exists(), reason="Debian's fonts-wqy-zenhei is not installed")
def test_given_a_rare_character_when_the_form_is_built_then_the_next_font_sets_it(tmp_path, fresh_fonts):
    pdf = documents.household_form_pdf(form_data(member("王䶮")))

    assert "王䶮" in pdf_pages(pdf, tmp_path)[0]
    assert pdf.count(b"/FontFile2") == 2
    assert b"+WenQuanYiZenHei" in pdf


# Rare characters of real names, outside the basic CJK block that Micro Hei covers: Extension A
# (U+3400–U+4DBF; 刘䶮, founder of the Southern Han) and Extension B (U+20000–U+2A6DF; 𠮷, the
# "吉" of many family names). The test set-up installs fonts-wqy-zenhei and fonts-hanazono, as the
# production image does (scripts/portal.py, Dockerfile), so nothing here is skipped.
RARE_EXTENSION_A = "䶮㛃㑇䴉㐱"
RARE_EXTENSION_B = "𠮷𡈼𨭉𪚥𠊎"


def test_given_rare_name_characters_then_the_font_search_path_has_a_glyph_for_each(fresh_fonts):
    # given: the usual places fonts are looked for
    stack = font_stack(font_search_path())
    assert all(0x3400 <= ord(char) <= 0x4DBF for char in RARE_EXTENSION_A)
    assert all(0x20000 <= ord(char) <= 0x2A6DF for char in RARE_EXTENSION_B)

    # when
    missing = [char for char in RARE_EXTENSION_A + RARE_EXTENSION_B if stack.font_for(char) is None]

    # then: none prints as 〓
    assert missing == []
    assert MISSING_GLYPH not in "".join(run for _name, run in stack.runs("刘䶮王𠮷"))


@needs_poppler
def test_given_an_extension_b_name_when_the_form_is_built_then_a_fallback_font_sets_it(tmp_path, fresh_fonts):
    # when
    pdf_bytes = documents.household_form_pdf(form_data(member("王𠮷")))

    # then: the character is set in HanaMin A (fonts-hanazono), not printed as 〓
    assert "王〓" not in pdf_pages(pdf_bytes, tmp_path)[0]
    assert b"+HanaMinA" in pdf_bytes


@needs_poppler
def test_given_extension_b_names_when_the_form_is_built_then_they_copy_out_as_written(tmp_path, fresh_fonts):
    # given: names with characters beyond U+FFFF, which a PDF's text layer maps as UTF-16 pairs
    names = [f"王{char}" for char in RARE_EXTENSION_B]

    # when
    pdf_bytes = documents.household_form_pdf(form_data(*(member(name) for name in names)))

    # then: what a viewer copies, searches or reads aloud is the name itself
    text = pdf_pages(pdf_bytes, tmp_path)[0]
    assert [name in text for name in names] == [True] * 5


# --- the publicity list, built from plain data ------------------------------------------------


@needs_poppler
def test_given_sixty_people_when_the_list_is_built_then_every_page_repeats_the_header_and_is_numbered(
    tmp_path,
):
    pdf = documents.publicity_list_pdf(publicity_data([publicity_row(n) for n in range(60)]))

    pages = [squeeze(page) for page in pdf_pages(pdf, tmp_path)]
    assert len(pages) == 3
    header = "序号 户号 姓名 性别 证件号码 与户主关系 人员类别 参保日期"
    assert [header in page for page in pages] == [True, True, True]
    assert [f"第{n}页/共3页" in compact(page) for n, page in enumerate(pages, start=1)] == [True, True, True]


@needs_poppler
def test_given_a_publicity_list_then_it_names_the_village_period_phone_and_count(tmp_path):
    pdf = documents.publicity_list_pdf(publicity_data([publicity_row(n) for n in range(3)]))

    text = squeeze(pdf_pages(pdf, tmp_path)[0])
    assert "城乡居民基本医疗保险参保人员公示名单" in text
    assert "村（居）：山西省临汾市尧都区屯里镇屯里村（141002100201）" in text
    assert "公示期：2026年5月1日 至 2026年5月7日（7 天）" in text
    assert "异议反映电话：0357-2345678" in text
    assert "公示人数：3 人" in text
    assert "公示单位（盖章）：" in text


@needs_poppler
def test_given_no_objection_phone_then_the_list_leaves_a_line_to_write_it_in(tmp_path):
    pdf = documents.publicity_list_pdf(publicity_data([publicity_row(0)], phone=""))

    assert "异议反映电话：____________________" in squeeze(pdf_pages(pdf, tmp_path)[0])


@needs_poppler
def test_given_a_publicity_list_then_names_are_in_full_and_identifiers_masked(tmp_path):
    pdf = documents.publicity_list_pdf(publicity_data([publicity_row(7, "欧阳小明")]))

    text = squeeze(pdf_pages(pdf, tmp_path)[0])
    assert "1 14100210020100002 欧阳小明 女 141002********0007 子女 农村居民 2026-01-01" in text
    assert "141002199001010007" not in text


def test_given_a_publicity_list_then_it_is_a4_landscape():
    pdf = documents.publicity_list_pdf(publicity_data([publicity_row(0)]))

    assert media_box(pdf) == (842, 595)


@pytest.mark.parametrize(
    ("end", "days"), [(dt.date(2026, 12, 7), 7), (dt.date(2026, 12, 10), 10), (dt.date(2026, 12, 31), 31)]
)
def test_given_a_posting_period_of_seven_days_or_more_counting_both_ends_then_it_is_accepted(end, days):
    # Given a list posted from 1 December; when the period ends on `end`; then it counts `days` days
    assert documents.PostingPeriod(dt.date(2026, 12, 1), end).days == days


@pytest.mark.parametrize(
    ("end", "given"), [(dt.date(2026, 12, 6), 6), (dt.date(2026, 12, 1), 1), (dt.date(2026, 11, 29), 0)]
)
def test_given_a_posting_period_of_fewer_than_seven_days_counting_both_ends_then_it_is_refused(end, given):
    # Given a list posted from 1 December; when the period ends on `end`
    with pytest.raises(ValidationError) as raised:
        documents.PostingPeriod(dt.date(2026, 12, 1), end)

    # Then it is refused, saying how many days it has
    assert raised.value.messages == [f"公示名单至少公示 7 天；所选公示期只有 {given} 天。"]


def test_given_a_publicity_list_when_exported_as_xlsx_then_the_cells_are_exact():
    handle = io.BytesIO()
    documents.publicity_list_xlsx(publicity_data([publicity_row(0), publicity_row(1, "李娜")]), handle)

    sheet = load_workbook(handle).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert sheet.title == "公示名单"
    assert values[0][0] == "城乡居民基本医疗保险参保人员公示名单"
    assert values[1][0] == "村（居）：山西省临汾市尧都区屯里镇屯里村（141002100201）"
    assert values[2][:2] == ["公示期：2026年5月1日 至 2026年5月7日（7 天）", "公示人数：2 人"]
    assert values[3][0] == "异议反映电话：0357-2345678"
    assert values[5] == ["序号", "户号", "姓名", "性别", "证件号码", "与户主关系", "人员类别", "参保日期"]
    assert values[6:] == [
        [
            1,
            "14100210020100001",
            "张伟",
            "女",
            "141002********0000",
            "户主",
            "农村居民",
            dt.datetime(2026, 1, 1),
        ],
        [
            2,
            "14100210020100001",
            "李娜",
            "女",
            "141002********0001",
            "子女",
            "农村居民",
            dt.datetime(2026, 1, 1),
        ],
    ]
    assert sheet.print_title_rows == "$6:$6"


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1"])
def test_given_a_name_that_a_spreadsheet_would_run_when_exported_then_it_is_text(name):
    handle = io.BytesIO()
    documents.publicity_list_xlsx(publicity_data([publicity_row(0, name)]), handle)

    cell = load_workbook(handle).active["C7"]
    assert cell.value == "'" + name
    assert cell.data_type == "s"


# --- the pages and downloads ------------------------------------------------------------------


def make_household(
    village: str, people: list[tuple[str, str, str]], *, status: str = EnrollmentStatus.NORMAL
) -> Household:
    """A household whose members are (name, id number, relation), each enrolled with ``status``."""
    number = f"{village}{Household.objects.filter(region_code=village).count() + 1:05d}"
    household = Household.objects.create(
        number=number, region_code=village, kind=HouseholdKind.HUKOU, address="三组12号"
    )
    for position, (name, id_number, relation) in enumerate(people):
        person = Person.objects.create(
            id_kind="resident_id",
            id_number=id_number,
            name=name,
            sex="male" if int(id_number[16]) % 2 else "female",
            birth_date=dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])),
            ethnicity="汉族",
            phone=f"1390357{position:04d}",
            category=PersonCategory.RURAL,
            household=household,
            relation=relation,
            region_code=village,
        )
        Enrollment.objects.create(
            person=person,
            county_code=village[:6],
            region_code=village,
            status=status,
            enrolled_on=dt.date(2026, 1, 1),
            ended_on=dt.date(2026, 3, 1) if status == EnrollmentStatus.TERMINATED else None,
            status_reason=ChangeReason.NEW_REGISTRATION
            if status == EnrollmentStatus.NORMAL
            else ChangeReason.DEATH,
            status_changed_on=dt.date(2026, 1, 1),
        )
    return household


def wang_household() -> Household:
    return make_household(
        YAODU_VILLAGE,
        [("王小明", "141002201209301115", Relation.CHILD), ("王建国", "141002196803121234", Relation.HEAD)],
    )


@needs_poppler
def test_given_a_village_clerk_when_they_print_a_household_form_then_it_shows_full_identifiers_head_first(
    world: World, client, tmp_path
):
    household = wang_household()
    client.force_login(world.user_for(Role.VILLAGE_CLERK))

    response = client.get(reverse("enrollment:household-form-pdf", kwargs={"pk": household.pk}))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline; filename")
    text = squeeze(pdf_pages(response.content, tmp_path)[0])
    assert "1 王建国 户主 男 汉族 1968-03-12 居民身份证 141002196803121234 农村居民 13903570001" in text
    assert "2 王小明 子女 男 汉族 2012-09-30 居民身份证 141002201209301115 农村居民 13903570000" in text
    assert "打印日期：" in text and "屯里村村民委员会" in text


@needs_poppler
def test_given_an_administrator_without_full_view_when_they_print_a_household_form_then_identifiers_are_masked(
    world: World, client, tmp_path
):
    household = wang_household()
    client.force_login(world.user_for(Role.ADMINISTRATOR))

    response = client.get(reverse("enrollment:household-form-pdf", kwargs={"pk": household.pk}))

    text = squeeze(pdf_pages(response.content, tmp_path)[0])
    assert "141002********1234" in text
    assert "141002196803121234" not in text
    assert "139****0001" in text


def test_given_a_clerk_when_they_print_a_household_form_then_each_member_is_logged_as_a_full_view(
    world: World, client, caplog
):
    household = wang_household()
    clerk = world.user_for(Role.VILLAGE_CLERK)
    client.force_login(clerk)

    with caplog.at_level(logging.INFO, logger="portal.audit"):
        client.get(reverse("enrollment:household-form-pdf", kwargs={"pk": household.pk}))

    logged = [json.loads(record.getMessage()) for record in caplog.records if record.name == "portal.audit"]
    assert sorted((entry["event"], entry["user_id"], entry["person_id"]) for entry in logged) == sorted(
        ("person.full_view", clerk.pk, person.pk) for person in household.members.all()
    )


def test_given_an_administrator_when_they_print_a_masked_household_form_then_no_full_view_is_logged(
    world: World, client, caplog
):
    household = wang_household()
    client.force_login(world.user_for(Role.ADMINISTRATOR))

    with caplog.at_level(logging.INFO, logger="portal.audit"):
        client.get(reverse("enrollment:household-form-pdf", kwargs={"pk": household.pk}))

    assert [record for record in caplog.records if record.name == "portal.audit"] == []


def test_given_a_household_of_another_village_when_a_clerk_asks_for_its_form_then_it_is_not_found(
    world: World, client
):
    other = make_household(HONGDONG_VILLAGE, [("赵敏", "141024199001011226", Relation.HEAD)])
    client.force_login(world.user_for(Role.VILLAGE_CLERK))

    response = client.get(reverse("enrollment:household-form-pdf", kwargs={"pk": other.pk}))

    assert response.status_code == 404


def test_given_a_village_clerk_when_they_open_the_publicity_page_then_their_village_and_a_seven_day_period_are_chosen(
    world: World, client
):
    client.force_login(world.user_for(Role.VILLAGE_CLERK))

    response = client.get(reverse("enrollment:publicity-list"))

    today = timezone.localdate()
    form = response.context["form"]
    assert response.status_code == 200
    assert form.initial["village"] == YAODU_VILLAGE
    assert (form.initial["start"], form.initial["end"]) == (today, today + dt.timedelta(days=6))
    assert [code for _group, options in form.fields["village"].choices[1:] for code, _label in options] == [
        YAODU_VILLAGE
    ]


def test_given_county_staff_when_they_choose_a_village_and_period_then_the_page_counts_and_links_the_downloads(
    world: World, client
):
    wang_household()
    make_household(
        YAODU_VILLAGE, [("李娜", "141002199001011228", Relation.HEAD)], status=EnrollmentStatus.TERMINATED
    )
    client.force_login(world.user_for(Role.INSURANCE_STAFF))

    response = client.get(
        reverse("enrollment:publicity-list"),
        {"village": YAODU_VILLAGE, "start": "2026-05-01", "end": "2026-05-10", "phone": "0357-2345678"},
    )

    query = "?start=2026-05-01&end=2026-05-10&phone=0357-2345678"
    assert response.status_code == 200
    assert response.context["total"] == 2
    assert [row.public_id_number for row in response.context["preview"]] == [
        "141002********1234",
        "141002********1115",
    ]
    assert response.context["pdf_url"] == f"/enrollment/publicity/{YAODU_VILLAGE}/list.pdf{query}"
    assert response.context["xlsx_url"] == f"/enrollment/publicity/{YAODU_VILLAGE}/list.xlsx{query}"


def test_given_a_six_day_period_when_the_page_is_submitted_then_it_says_why_and_offers_no_download(
    world: World, client
):
    client.force_login(world.user_for(Role.VILLAGE_CLERK))

    response = client.get(
        reverse("enrollment:publicity-list"),
        {"village": YAODU_VILLAGE, "start": "2026-05-01", "end": "2026-05-06"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"end": ["公示名单至少公示 7 天；所选公示期只有 6 天。"]}
    assert "pdf_url" not in response.context


def test_given_a_six_day_period_when_the_pdf_is_asked_for_directly_then_the_page_says_why(
    world: World, client
):
    client.force_login(world.user_for(Role.VILLAGE_CLERK))

    response = client.get(
        reverse("enrollment:publicity-list-pdf", kwargs={"code": YAODU_VILLAGE}),
        {"start": "2026-05-01", "end": "2026-05-06"},
        follow=True,
    )

    assert response.redirect_chain == [
        (
            f"{reverse('enrollment:publicity-list')}?village={YAODU_VILLAGE}&start=2026-05-01&end=2026-05-06",
            302,
        )
    ]
    assert response.context["form"].errors == {"end": ["公示名单至少公示 7 天；所选公示期只有 6 天。"]}


OUTSIDE_DAYS = "请填写 2000-01-01 至 2100-12-31 之间的日期。"


def test_given_a_far_start_and_no_end_when_the_page_is_submitted_then_the_start_is_refused(
    world: World, client
):
    # given: a start a week before the calendar ends, so that the default end (a week on) is no date
    client.force_login(world.user_for(Role.VILLAGE_CLERK))

    # when
    response = client.get(
        reverse("enrollment:publicity-list"), {"village": YAODU_VILLAGE, "start": "9999-12-30"}
    )

    # then
    assert response.status_code == 200
    assert response.context["form"].errors == {"start": [OUTSIDE_DAYS]}
    assert "pdf_url" not in response.context


@pytest.mark.parametrize("download", ["enrollment:publicity-list-pdf", "enrollment:publicity-list-xlsx"])
def test_given_a_far_start_and_no_end_when_a_download_is_asked_for_then_the_page_says_why(
    world: World, client, download
):
    # given
    client.force_login(world.user_for(Role.VILLAGE_CLERK))

    # when
    response = client.get(
        reverse(download, kwargs={"code": YAODU_VILLAGE}), {"start": "9999-12-30"}, follow=True
    )

    # then: back to the page, with the start's error beside it
    assert response.redirect_chain == [
        (f"{reverse('enrollment:publicity-list')}?village={YAODU_VILLAGE}&start=9999-12-30", 302)
    ]
    assert response.context["form"].errors == {"start": [OUTSIDE_DAYS]}


def test_given_an_end_past_2100_when_the_page_is_submitted_then_the_end_is_refused(world: World, client):
    # given
    client.force_login(world.user_for(Role.VILLAGE_CLERK))

    # when
    response = client.get(
        reverse("enrollment:publicity-list"),
        {"village": YAODU_VILLAGE, "start": "2100-12-25", "end": "2101-01-01"},
    )

    # then
    assert response.context["form"].errors == {"end": [OUTSIDE_DAYS]}
    assert "pdf_url" not in response.context


@needs_poppler
def test_given_no_period_when_the_pdf_is_asked_for_then_it_is_posted_from_today_for_seven_days(
    world: World, client, tmp_path
):
    wang_household()
    client.force_login(world.user_for(Role.VILLAGE_CLERK))

    response = client.get(reverse("enrollment:publicity-list-pdf", kwargs={"code": YAODU_VILLAGE}))

    today = timezone.localdate()
    end = today + dt.timedelta(days=6)  # seven days, both ends counted
    text = squeeze(pdf_pages(response.content, tmp_path)[0])
    assert response["Content-Type"] == "application/pdf"
    assert (
        f"公示期：{today.year}年{today.month}月{today.day}日 至 {end.year}年{end.month}月{end.day}日（7 天）"
        in text
    )
    assert "1 14100210020100001 王建国 男 141002********1234 户主 农村居民 2026-01-01" in text
    assert "2 14100210020100001 王小明 男 141002********1115 子女 农村居民 2026-01-01" in text


def test_given_insurance_staff_when_they_download_the_xlsx_then_only_normal_enrollments_are_listed_masked(
    world: World, client
):
    wang_household()
    make_household(
        YAODU_VILLAGE, [("李娜", "141002199001011228", Relation.HEAD)], status=EnrollmentStatus.TERMINATED
    )
    make_household(HONGDONG_VILLAGE, [("赵敏", "141024199001011226", Relation.HEAD)])
    client.force_login(world.user_for(Role.INSURANCE_STAFF))

    response = client.get(
        reverse("enrollment:publicity-list-xlsx", kwargs={"code": YAODU_VILLAGE}),
        {"start": "2026-05-01", "end": "2026-05-08"},
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"].startswith("attachment; filename")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = [list(row) for row in sheet.iter_rows(min_row=7, values_only=True)]
    assert rows == [
        [
            1,
            "14100210020100001",
            "王建国",
            "男",
            "141002********1234",
            "户主",
            "农村居民",
            dt.datetime(2026, 1, 1),
        ],
        [
            2,
            "14100210020100001",
            "王小明",
            "男",
            "141002********1115",
            "子女",
            "农村居民",
            dt.datetime(2026, 1, 1),
        ],
    ]


def test_given_a_township_code_when_a_publicity_list_is_asked_for_then_it_is_not_found(world: World, client):
    client.force_login(world.user_for(Role.INSURANCE_STAFF))

    response = client.get(reverse("enrollment:publicity-list-pdf", kwargs={"code": "141002100000"}))

    assert response.status_code == 404


def _student_of(world: World, name: str, id_number: str, school_key: str = "school_a") -> None:
    household = make_household(YAODU_VILLAGE, [(name, id_number, Relation.HEAD)])
    household.members.update(school=world.agencies[school_key])


def test_given_a_school_when_its_publicity_list_is_asked_for_then_only_its_enrolled_students_are_listed(
    world: World, client
):
    wang_household()
    _student_of(world, "李娜", "141002199001011228")
    client.force_login(world.user_for(Role.INSURANCE_STAFF))

    response = client.get(
        reverse("enrollment:publicity-list"),
        {"school": world.agencies["school_a"].pk, "start": "2026-09-01", "end": "2026-09-08"},
    )

    school = world.agencies["school_a"]
    assert response.status_code == 200
    assert response.context["unit"].name == "尧都区第一中学"
    assert [row.name for row in response.context["preview"]] == ["李娜"]
    assert (
        response.context["pdf_url"]
        == f"/enrollment/publicity/school/{school.pk}/list.pdf?start=2026-09-01&end=2026-09-08"
    )


@needs_poppler
def test_given_a_schools_list_when_printed_then_the_pdf_names_the_school_and_its_period(
    world: World, client, tmp_path
):
    _student_of(world, "李娜", "141002199001011228")
    client.force_login(world.user_for(Role.INSURANCE_STAFF))
    school = world.agencies["school_a"]

    response = client.get(
        reverse("enrollment:school-publicity-list-pdf", kwargs={"pk": school.pk}),
        {"start": "2026-09-01", "end": "2026-09-07"},
    )

    text = squeeze(pdf_pages(response.content, tmp_path)[0])
    assert response["Content-Type"] == "application/pdf"
    assert "学校：尧都区第一中学" in text
    assert "李娜" in text
    assert "公示期：2026年9月1日 至 2026年9月7日（7 天）" in text


def test_given_a_school_of_another_county_when_its_list_is_asked_for_then_it_is_not_found(
    world: World, client
):
    client.force_login(world.user_for(Role.INSURANCE_STAFF))

    response = client.get(
        reverse("enrollment:school-publicity-list-xlsx", kwargs={"pk": world.agencies["school_b"].pk}),
        {"start": "2026-09-01", "end": "2026-09-07"},
    )

    assert response.status_code == 404


def test_given_two_schools_of_one_county_when_one_schools_clerk_asks_for_the_others_list_then_it_is_not_found(
    world: World, client
):
    from accounts import services as account_services
    from accounts.models import AgencyKind

    other = account_services.agency_create(
        name="尧都区第二中学", kind=AgencyKind.SCHOOL, region=world.regions["yaodu"]
    )
    client.force_login(world.users["school_a"])
    period = {"start": "2026-09-01", "end": "2026-09-07"}

    page = client.get(reverse("enrollment:publicity-list"), {"school": other.pk, **period})
    pdf = client.get(reverse("enrollment:school-publicity-list-pdf", kwargs={"pk": other.pk}), period)
    xlsx = client.get(reverse("enrollment:school-publicity-list-xlsx", kwargs={"pk": other.pk}), period)
    choices = client.get(reverse("enrollment:publicity-list")).context["form"].fields["school"].choices

    assert (page.status_code, pdf.status_code, xlsx.status_code) == (200, 404, 404)
    assert "unit" not in page.context
    assert list(page.context["form"].errors) == ["school"]
    assert [label for value, label in choices if value] == ["尧都区第一中学"]
