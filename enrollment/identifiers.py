"""Identifiers of a person (参保识别码) of every kind: normalising, parsing and checking them.

Plain Python: no database and no models, so forms, the API, imports and the browser check
(`static/js/identifiers.js`, the resident-ID part; a test runs both on the same table) agree.

    parse_identifier(kind, raw, *, nationality=None) -> ParsedIdentifier   or raises IdentifierError
    check_against_entered(parsed, *, birth_date, sex) -> [IdentifierError, ...]
    generate_identifier(region_code, sequence) -> "W" + 12-digit region + 5-digit sequence + check
    decode_generated(raw) -> GeneratedParts(region_code, sequence)

An `IdentifierError` has a stable machine `code` (see `ERROR_CODES`) and a message that is
rendered in the active language when it is read (`error.message`, `str(error)`). The msgids
are English and marked with `gettext_noop`, so `makemessages` extracts them; their Chinese
text is in `ZH_MESSAGES`, ready to paste into the catalogue.

Kinds and their numbers (after `normalise`):

- resident_id: 18 characters per GB 11643-1999 — 6-digit address code whose first two digits
  are a province code (`PROVINCE_CODES`), birth date YYYYMMDD (1890-01-01 .. today in China),
  3-digit sequence (odd 17th digit: male, even: female), ISO 7064 MOD 11-2 check digit 0-9/X;
- hk_macao_permit: H or M + 8 digits (older permits: + 10 digits);
- taiwan_permit: 8 digits (older permits: 10 digits);
- hmt_residence_permit: like a resident ID, with address code 810000, 820000 or 830000;
- foreign_passport: 5-20 letters and digits, with a required 3-letter nationality code;
- foreign_permanent_residence: 18 digits starting with 9 (cards since 2023; birth date, sex
  and check digit as in a resident ID) or, on older cards, 3 letters + 12 digits;
- generated: for people without documents: W + the 12-digit code of the registering region
  + a 5-digit sequence (1-99999) + an ISO 7064 MOD 11-2 check character over those 17 digits.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple

from django.utils.translation import gettext, gettext_noop
from stdnum import exceptions as stdnum_exceptions
from stdnum.cn import ric
from stdnum.iso7064 import mod_11_2


class IdKind(enum.StrEnum):
    """The kinds of identifier; the same values as `enrollment.models.IdKind`."""

    RESIDENT_ID = "resident_id"
    HK_MACAO_PERMIT = "hk_macao_permit"
    TAIWAN_PERMIT = "taiwan_permit"
    HMT_RESIDENCE_PERMIT = "hmt_residence_permit"
    FOREIGN_PASSPORT = "foreign_passport"
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence"
    GENERATED = "generated"


class Sex(enum.StrEnum):
    """The same values as `enrollment.models.Sex`."""

    MALE = "male"
    FEMALE = "female"


# First two digits of an address code: provinces, autonomous regions, municipalities,
# Taiwan (71), Hong Kong (81), Macao (82), Taiwan residence permits (83), foreigners (91).
PROVINCE_CODES = frozenset(
    f"{n:02d}"
    for n in (
        *range(11, 16),
        *range(21, 24),
        *range(31, 38),
        *range(41, 47),
        *range(50, 55),
        *range(61, 66),
        71,
        81,
        82,
        83,
        91,
    )
)
HMT_ADDRESS_CODES = ("810000", "820000", "830000")
EARLIEST_BIRTH_DATE = date(1890, 1, 1)
GENERATED_PREFIX = "W"
GENERATED_REGION_DIGITS = 12
GENERATED_SEQUENCE_DIGITS = 5
GENERATED_MAX_SEQUENCE = 10**GENERATED_SEQUENCE_DIGITS - 1
# China has one time zone and no daylight saving: a birth date is "in the future" by Beijing time.
CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")

_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class _Term(str):
    """A msgid given as a message parameter: it is translated together with the message."""

    __slots__ = ()


# --- Messages -------------------------------------------------------------------------------
# Names of the numbers, used as %(label)s (always at the start of an English sentence).
LABEL_RESIDENT_ID = _Term(gettext_noop("The resident ID number"))
LABEL_HK_MACAO_PERMIT = _Term(
    gettext_noop("The Mainland travel permit number for Hong Kong and Macao residents")
)
LABEL_TAIWAN_PERMIT = _Term(gettext_noop("The Mainland travel permit number for Taiwan residents"))
LABEL_HMT_RESIDENCE_PERMIT = _Term(
    gettext_noop("The residence permit number for Hong Kong, Macao and Taiwan residents")
)
LABEL_FOREIGN_PASSPORT = _Term(gettext_noop("The passport number"))
LABEL_FOREIGN_PERMANENT_RESIDENCE = _Term(gettext_noop("The foreign permanent resident ID card number"))
LABEL_GENERATED = _Term(gettext_noop("The number assigned to a person without identity documents"))
_LABELS = {
    IdKind.RESIDENT_ID: LABEL_RESIDENT_ID,
    IdKind.HK_MACAO_PERMIT: LABEL_HK_MACAO_PERMIT,
    IdKind.TAIWAN_PERMIT: LABEL_TAIWAN_PERMIT,
    IdKind.HMT_RESIDENCE_PERMIT: LABEL_HMT_RESIDENCE_PERMIT,
    IdKind.FOREIGN_PASSPORT: LABEL_FOREIGN_PASSPORT,
    IdKind.FOREIGN_PERMANENT_RESIDENCE: LABEL_FOREIGN_PERMANENT_RESIDENCE,
    IdKind.GENERATED: LABEL_GENERATED,
}
SEX_TERMS = {Sex.MALE: _Term(gettext_noop("male")), Sex.FEMALE: _Term(gettext_noop("female"))}

MSG_EMPTY = gettext_noop("%(label)s is required.")
MSG_KIND_UNKNOWN = gettext_noop("“%(kind)s” is not a supported kind of identity document.")
MSG_CHARACTERS_GB11643 = gettext_noop(
    "%(label)s may contain only digits, and X as the last character; “%(character)s” at position %(position)s is not allowed."
)
MSG_CHARACTERS_DIGITS = gettext_noop(
    "%(label)s may contain only digits; “%(character)s” at position %(position)s is not a digit."
)
MSG_CHARACTERS_AFTER_LETTER = gettext_noop(
    "%(label)s may contain only digits after the letter; “%(character)s” at position %(position)s is not a digit."
)
MSG_CHARACTERS_LETTERS_DIGITS = gettext_noop(
    "%(label)s may contain only Latin letters and digits; “%(character)s” at position %(position)s is not allowed."
)
MSG_CHARACTERS_FOREIGN_PR_OLD = gettext_noop(
    "%(label)s with 15 characters should be 3 letters followed by 12 digits; “%(character)s” at position %(position)s does not fit."
)
MSG_CHARACTERS_GENERATED = gettext_noop(
    "%(label)s should be W followed by 18 digits, the last of which may be X; “%(character)s” at position %(position)s does not fit."
)
MSG_LENGTH = gettext_noop("%(label)s should have %(expected)s characters; you entered %(length)s.")
MSG_LENGTH_HK_MACAO = gettext_noop(
    "%(label)s should have 8 digits after the letter (10 on older permits); you entered %(length)s."
)
MSG_LENGTH_TAIWAN = gettext_noop(
    "%(label)s should have 8 digits (10 on older permits); you entered %(length)s."
)
MSG_LENGTH_PASSPORT = gettext_noop("%(label)s should have 5 to 20 letters or digits; you entered %(length)s.")
MSG_LENGTH_FOREIGN_PR = gettext_noop(
    "%(label)s should have 18 digits (15 characters on cards issued before 2023); you entered %(length)s."
)
MSG_PROVINCE_CODE = gettext_noop(
    "%(label)s starts with %(province)s, which is not the code of a province, autonomous region or municipality."
)
MSG_PREFIX_HK_MACAO = gettext_noop(
    "%(label)s should start with H (Hong Kong residents) or M (Macao residents)."
)
MSG_PREFIX_HMT = gettext_noop(
    "%(label)s should start with 810000 (Hong Kong), 820000 (Macao) or 830000 (Taiwan)."
)
MSG_PREFIX_FOREIGN_PR = gettext_noop("%(label)s with 18 digits should start with 9.")
MSG_PREFIX_GENERATED = gettext_noop("%(label)s should start with the letter W.")
MSG_BIRTH_DATE_INVALID = gettext_noop("%(label)s contains the birth date %(digits)s, which does not exist.")
MSG_BIRTH_DATE_TOO_EARLY = gettext_noop(
    "%(label)s contains the birth date %(date)s, which is before 1 January 1890; please check the number."
)
MSG_BIRTH_DATE_FUTURE = gettext_noop(
    "%(label)s contains the birth date %(date)s, which is in the future; please check the number."
)
MSG_CHECK_DIGIT = gettext_noop("%(label)s has a wrong check digit; please check the number digit by digit.")
MSG_NATIONALITY_MISSING = gettext_noop(
    "Please enter the passport holder's nationality as a three-letter code (ISO 3166-1 alpha-3, for example USA)."
)
MSG_NATIONALITY_FORMAT = gettext_noop(
    "The nationality code should be three Latin letters (ISO 3166-1 alpha-3, for example USA); you entered “%(nationality)s”."
)
MSG_BIRTH_DATE_MISMATCH = gettext_noop(
    "%(label)s encodes the birth date %(encoded)s, but %(entered)s was entered."
)
MSG_SEX_MISMATCH = gettext_noop("%(label)s encodes the sex as %(encoded)s, but %(entered)s was entered.")
MSG_REGION_CODE = gettext_noop(
    "A generated number needs the 12-digit code of the region where the person is registered; “%(region_code)s” is not one."
)
MSG_SEQUENCE = gettext_noop(
    "The sequence of a generated number should be between 1 and 99999; it was %(sequence)s."
)

# The Chinese text of every msgid above, for the zh_Hans catalogue (same placeholders).
ZH_MESSAGES: dict[str, str] = {
    LABEL_RESIDENT_ID: "身份证号码",
    LABEL_HK_MACAO_PERMIT: "港澳居民来往内地通行证号码",
    LABEL_TAIWAN_PERMIT: "台湾居民来往大陆通行证号码",
    LABEL_HMT_RESIDENCE_PERMIT: "港澳台居民居住证号码",
    LABEL_FOREIGN_PASSPORT: "护照号码",
    LABEL_FOREIGN_PERMANENT_RESIDENCE: "外国人永久居留身份证号码",
    LABEL_GENERATED: "无证件人员编号",
    SEX_TERMS[Sex.MALE]: "男",
    SEX_TERMS[Sex.FEMALE]: "女",
    MSG_EMPTY: "请填写%(label)s。",
    MSG_KIND_UNKNOWN: "不支持的证件类型“%(kind)s”。",
    MSG_CHARACTERS_GB11643: "%(label)s只能由数字组成（最后一位可以是X），第%(position)s位的“%(character)s”不符合要求。",
    MSG_CHARACTERS_DIGITS: "%(label)s只能由数字组成，第%(position)s位的“%(character)s”不是数字。",
    MSG_CHARACTERS_AFTER_LETTER: "%(label)s的字母后面只能是数字，第%(position)s位的“%(character)s”不是数字。",
    MSG_CHARACTERS_LETTERS_DIGITS: "%(label)s只能由英文字母和数字组成，第%(position)s位的“%(character)s”不符合要求。",
    MSG_CHARACTERS_FOREIGN_PR_OLD: "15位的%(label)s应为3位字母加12位数字，第%(position)s位的“%(character)s”不符合要求。",
    MSG_CHARACTERS_GENERATED: "%(label)s应为字母W加18位数字（最后一位可以是X），第%(position)s位的“%(character)s”不符合要求。",
    MSG_LENGTH: "%(label)s应为%(expected)s位，您输入了%(length)s位。",
    MSG_LENGTH_HK_MACAO: "%(label)s的字母后面应为8位数字（旧版为10位），您输入了%(length)s位。",
    MSG_LENGTH_TAIWAN: "%(label)s应为8位数字（旧版为10位），您输入了%(length)s位。",
    MSG_LENGTH_PASSPORT: "%(label)s应为5至20位字母或数字，您输入了%(length)s位。",
    MSG_LENGTH_FOREIGN_PR: "%(label)s应为18位（2023年以前签发的旧版为15位），您输入了%(length)s位。",
    MSG_PROVINCE_CODE: "%(label)s的前两位%(province)s不是有效的省级行政区代码。",
    MSG_PREFIX_HK_MACAO: "%(label)s应以H（香港居民）或M（澳门居民）开头。",
    MSG_PREFIX_HMT: "%(label)s应以810000（香港）、820000（澳门）或830000（台湾）开头。",
    MSG_PREFIX_FOREIGN_PR: "18位的%(label)s应以9开头。",
    MSG_PREFIX_GENERATED: "%(label)s应以字母W开头。",
    MSG_BIRTH_DATE_INVALID: "%(label)s中的出生日期%(digits)s不存在。",
    MSG_BIRTH_DATE_TOO_EARLY: "%(label)s中的出生日期%(date)s早于1890年1月1日，请核对号码。",
    MSG_BIRTH_DATE_FUTURE: "%(label)s中的出生日期%(date)s晚于今天，请核对号码。",
    MSG_CHECK_DIGIT: "%(label)s的校验位不正确，请逐位核对号码。",
    MSG_NATIONALITY_MISSING: "请填写护照持有人的国籍代码（3位英文字母，ISO 3166-1 alpha-3，例如USA）。",
    MSG_NATIONALITY_FORMAT: "国籍代码应为3位英文字母（ISO 3166-1 alpha-3，例如USA），您输入的是“%(nationality)s”。",
    MSG_BIRTH_DATE_MISMATCH: "出生日期与%(label)s不符：号码中为%(encoded)s，填写的是%(entered)s。",
    MSG_SEX_MISMATCH: "性别与%(label)s不符：号码中为%(encoded)s，填写的是%(entered)s。",
    MSG_REGION_CODE: "生成无证件人员编号需要登记地的12位区划代码，“%(region_code)s”不符合要求。",
    MSG_SEQUENCE: "无证件人员编号的顺序号应在1至99999之间，当前为%(sequence)s。",
}

# Every `IdentifierError.code`; the browser check uses the same ones.
ERROR_CODES = frozenset(
    {
        "empty",
        "kind_unknown",
        "characters",
        "length",
        "province_code",
        "prefix",
        "birth_date_invalid",
        "birth_date_too_early",
        "birth_date_future",
        "check_digit",
        "nationality",
        "birth_date_mismatch",
        "sex_mismatch",
        "region_code",
        "sequence",
    }
)


class IdentifierError(ValueError):
    """What is wrong with an identifier: a stable `code` and a message for the clerk.

    `template` is the English msgid and `params` its values; the message is rendered when
    read, in the language active then (`message`, `str(error)`), or with any catalogue
    (`render(ZH_MESSAGES.__getitem__)`).
    """

    def __init__(self, code: str, template: str, params: Mapping[str, object] | None = None) -> None:
        self.code = code
        self.template = template
        self.params = dict(params or {})
        super().__init__(code, template, self.params)

    def render(self, translate: Callable[[str], str] = gettext) -> str:
        params = {k: translate(v) if isinstance(v, _Term) else v for k, v in self.params.items()}
        return translate(self.template) % params

    @property
    def message(self) -> str:
        return self.render()

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"IdentifierError({self.code!r}, {self.render(str)!r})"


@dataclass(frozen=True, slots=True)
class ParsedIdentifier:
    kind: IdKind
    number: str  # normalised
    birth_date: date | None = None  # when the number encodes it
    sex: Sex | None = None  # when the number encodes it
    nationality: str | None = None  # foreign kinds only: the normalised ISO 3166-1 alpha-3 code


class GeneratedParts(NamedTuple):
    region_code: str
    sequence: int


# --- Normalising ----------------------------------------------------------------------------
_WHITESPACE = " \t\n\r\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def _normalising_table() -> dict[int, int | None]:
    table: dict[int, int | None] = {ord(c): None for c in _WHITESPACE}
    for code in range(0xFF01, 0xFF5F):  # full-width ！..～ -> ASCII ! .. ~
        table[code] = ord(chr(code - 0xFEE0).upper())
    for c in "abcdefghijklmnopqrstuvwxyz":
        table[ord(c)] = ord(c.upper())
    return table


_NORMALISE = _normalising_table()


def normalise(raw: str | None) -> str:
    """Remove all whitespace (inner too), make full-width characters half-width, uppercase ASCII letters."""
    return (raw or "").translate(_NORMALISE)


# --- Parsing --------------------------------------------------------------------------------
def today_in_china() -> date:
    return datetime.now(CHINA_TIME).date()


def _shown(character: str) -> str:
    return character if character.isprintable() else f"U+{ord(character):04X}"


def _characters_error(template: str, label: _Term, number: str, index: int) -> IdentifierError:
    return IdentifierError(
        "characters", template, {"label": label, "character": _shown(number[index]), "position": index + 1}
    )


def _first_not_in(number: str, allowed: frozenset[str], start: int = 0) -> int | None:
    return next((i for i in range(start, len(number)) if number[i] not in allowed), None)


def _length_error(template: str, label: _Term, length: int, expected: int | None = None) -> IdentifierError:
    params: dict[str, object] = {"label": label, "length": length}
    if expected is not None:
        params["expected"] = expected
    return IdentifierError("length", template, params)


def _require_digits_and_final_x(number: str, label: _Term, template: str = MSG_CHARACTERS_GB11643) -> None:
    for i, c in enumerate(number):
        if c not in _DIGITS and not (c == "X" and i == len(number) - 1):
            raise _characters_error(template, label, number, i)


def _parse_gb11643(
    kind: IdKind, number: str, label: _Term, today: date, check_prefix: Callable[[str], None]
) -> ParsedIdentifier:
    """The 18-character numbers of GB 11643: address, birth date, sequence (sex), check digit."""
    _require_digits_and_final_x(number, label)
    if len(number) != 18:
        raise _length_error(MSG_LENGTH, label, len(number), 18)
    check_prefix(number)
    try:
        born = ric.get_birth_date(number)
    except stdnum_exceptions.ValidationError:
        raise IdentifierError(
            "birth_date_invalid", MSG_BIRTH_DATE_INVALID, {"label": label, "digits": number[6:14]}
        ) from None
    if born < EARLIEST_BIRTH_DATE:
        raise IdentifierError(
            "birth_date_too_early", MSG_BIRTH_DATE_TOO_EARLY, {"label": label, "date": born.isoformat()}
        )
    if born > today:
        raise IdentifierError(
            "birth_date_future", MSG_BIRTH_DATE_FUTURE, {"label": label, "date": born.isoformat()}
        )
    if number[-1] != ric.calc_check_digit(number):
        raise IdentifierError("check_digit", MSG_CHECK_DIGIT, {"label": label})
    sex = Sex.MALE if int(number[16]) % 2 else Sex.FEMALE
    return ParsedIdentifier(kind=kind, number=number, birth_date=born, sex=sex)


def _resident_province(number: str) -> None:
    if number[:2] not in PROVINCE_CODES:
        raise IdentifierError(
            "province_code", MSG_PROVINCE_CODE, {"label": LABEL_RESIDENT_ID, "province": number[:2]}
        )


def _hmt_address(number: str) -> None:
    if number[:6] not in HMT_ADDRESS_CODES:
        raise IdentifierError("prefix", MSG_PREFIX_HMT, {"label": LABEL_HMT_RESIDENCE_PERMIT})


def _foreign_pr_nine(number: str) -> None:
    if number[0] != "9":
        raise IdentifierError("prefix", MSG_PREFIX_FOREIGN_PR, {"label": LABEL_FOREIGN_PERMANENT_RESIDENCE})


def _parse_nationality(raw: str | None, *, required: bool) -> str | None:
    nationality = normalise(raw)
    if not nationality:
        if required:
            raise IdentifierError("nationality", MSG_NATIONALITY_MISSING)
        return None
    if len(nationality) != 3 or not set(nationality) <= _LETTERS:
        raise IdentifierError("nationality", MSG_NATIONALITY_FORMAT, {"nationality": nationality})
    return nationality


def _parse_hk_macao(number: str) -> ParsedIdentifier:
    label = LABEL_HK_MACAO_PERMIT
    if number[0] not in "HM":
        raise IdentifierError("prefix", MSG_PREFIX_HK_MACAO, {"label": label})
    bad = _first_not_in(number, _DIGITS, start=1)
    if bad is not None:
        raise _characters_error(MSG_CHARACTERS_AFTER_LETTER, label, number, bad)
    if len(number) - 1 not in (8, 10):
        raise _length_error(MSG_LENGTH_HK_MACAO, label, len(number) - 1)
    return ParsedIdentifier(kind=IdKind.HK_MACAO_PERMIT, number=number)


def _parse_taiwan(number: str) -> ParsedIdentifier:
    label = LABEL_TAIWAN_PERMIT
    bad = _first_not_in(number, _DIGITS)
    if bad is not None:
        raise _characters_error(MSG_CHARACTERS_DIGITS, label, number, bad)
    if len(number) not in (8, 10):
        raise _length_error(MSG_LENGTH_TAIWAN, label, len(number))
    return ParsedIdentifier(kind=IdKind.TAIWAN_PERMIT, number=number)


def _parse_passport(number: str, nationality: str | None) -> ParsedIdentifier:
    label = LABEL_FOREIGN_PASSPORT
    bad = _first_not_in(number, _DIGITS | _LETTERS)
    if bad is not None:
        raise _characters_error(MSG_CHARACTERS_LETTERS_DIGITS, label, number, bad)
    if not 5 <= len(number) <= 20:
        raise _length_error(MSG_LENGTH_PASSPORT, label, len(number))
    return ParsedIdentifier(
        kind=IdKind.FOREIGN_PASSPORT,
        number=number,
        nationality=_parse_nationality(nationality, required=True),
    )


def _parse_foreign_pr(number: str, nationality: str | None, today: date) -> ParsedIdentifier:
    label = LABEL_FOREIGN_PERMANENT_RESIDENCE
    bad = _first_not_in(number, _DIGITS | _LETTERS)
    if bad is not None:
        raise _characters_error(MSG_CHARACTERS_LETTERS_DIGITS, label, number, bad)
    if len(number) == 18:
        parsed = _parse_gb11643(IdKind.FOREIGN_PERMANENT_RESIDENCE, number, label, today, _foreign_pr_nine)
    elif len(number) == 15:
        bad = next(
            (i for i, c in enumerate(number) if c not in (_LETTERS if i < 3 else _DIGITS)),
            None,
        )
        if bad is not None:
            raise _characters_error(MSG_CHARACTERS_FOREIGN_PR_OLD, label, number, bad)
        parsed = ParsedIdentifier(kind=IdKind.FOREIGN_PERMANENT_RESIDENCE, number=number)
    else:
        raise _length_error(MSG_LENGTH_FOREIGN_PR, label, len(number))
    nationality = _parse_nationality(nationality, required=False)
    return ParsedIdentifier(parsed.kind, parsed.number, parsed.birth_date, parsed.sex, nationality)


_GENERATED_LENGTH = 1 + GENERATED_REGION_DIGITS + GENERATED_SEQUENCE_DIGITS + 1


def _parse_generated(number: str) -> ParsedIdentifier:
    label = LABEL_GENERATED
    if number[0] != GENERATED_PREFIX:
        raise IdentifierError("prefix", MSG_PREFIX_GENERATED, {"label": label})
    for i in range(1, len(number)):
        if number[i] not in _DIGITS and not (number[i] == "X" and i == len(number) - 1):
            raise _characters_error(MSG_CHARACTERS_GENERATED, label, number, i)
    if len(number) != _GENERATED_LENGTH:
        raise _length_error(MSG_LENGTH, label, len(number), _GENERATED_LENGTH)
    if number[1:3] not in PROVINCE_CODES:
        raise IdentifierError("province_code", MSG_PROVINCE_CODE, {"label": label, "province": number[1:3]})
    if mod_11_2.checksum(number[1:]) != 1:
        raise IdentifierError("check_digit", MSG_CHECK_DIGIT, {"label": label})
    return ParsedIdentifier(kind=IdKind.GENERATED, number=number)


def parse_identifier(
    kind: str, raw: str | None, *, nationality: str | None = None, today: date | None = None
) -> ParsedIdentifier:
    """Normalise and check `raw` as an identifier of `kind`; raise `IdentifierError` if it is wrong.

    `nationality` is required for a foreign passport and optional for a foreign permanent
    resident ID card; other kinds ignore it. `today` (default: today in China) bounds birth dates.
    """
    try:
        id_kind = IdKind(kind)
    except ValueError:
        raise IdentifierError("kind_unknown", MSG_KIND_UNKNOWN, {"kind": kind}) from None
    number = normalise(raw)
    if not number:
        raise IdentifierError("empty", MSG_EMPTY, {"label": _LABELS[id_kind]})
    today = today or today_in_china()
    match id_kind:
        case IdKind.RESIDENT_ID:
            return _parse_gb11643(id_kind, number, LABEL_RESIDENT_ID, today, _resident_province)
        case IdKind.HMT_RESIDENCE_PERMIT:
            return _parse_gb11643(id_kind, number, LABEL_HMT_RESIDENCE_PERMIT, today, _hmt_address)
        case IdKind.HK_MACAO_PERMIT:
            return _parse_hk_macao(number)
        case IdKind.TAIWAN_PERMIT:
            return _parse_taiwan(number)
        case IdKind.FOREIGN_PASSPORT:
            return _parse_passport(number, nationality)
        case IdKind.FOREIGN_PERMANENT_RESIDENCE:
            return _parse_foreign_pr(number, nationality, today)
        case IdKind.GENERATED:
            return _parse_generated(number)


# --- Generated numbers ----------------------------------------------------------------------
def generate_identifier(region_code: str, sequence: int) -> str:
    """The number of the `sequence`-th person without documents registered in `region_code`.

    The caller allocates `sequence` (1-99999) uniquely per region, e.g. from a counter row
    locked in the same transaction; distinct (region, sequence) pairs give distinct numbers.
    """
    region = normalise(region_code)
    if (
        len(region) != GENERATED_REGION_DIGITS
        or not set(region) <= _DIGITS
        or region[:2] not in PROVINCE_CODES
    ):
        raise IdentifierError("region_code", MSG_REGION_CODE, {"region_code": region_code})
    if (
        isinstance(sequence, bool)
        or not isinstance(sequence, int)
        or not 1 <= sequence <= GENERATED_MAX_SEQUENCE
    ):
        raise IdentifierError("sequence", MSG_SEQUENCE, {"sequence": sequence})
    digits = f"{region}{sequence:0{GENERATED_SEQUENCE_DIGITS}d}"
    return f"{GENERATED_PREFIX}{digits}{mod_11_2.calc_check_digit(digits)}"


def decode_generated(raw: str) -> GeneratedParts:
    """The region code and sequence of a generated number (checked first: may raise `IdentifierError`)."""
    number = parse_identifier(IdKind.GENERATED, raw).number
    region_end = 1 + GENERATED_REGION_DIGITS
    return GeneratedParts(number[1:region_end], int(number[region_end:-1]))


# --- Against what the clerk entered ---------------------------------------------------------
def check_against_entered(
    parsed: ParsedIdentifier, *, birth_date: date | None, sex: str | None
) -> list[IdentifierError]:
    """Where the birth date or sex entered differ from those the number encodes (empty if none).

    Nothing is compared when the number does not encode the value or nothing was entered.
    """
    label = _LABELS[parsed.kind]
    errors: list[IdentifierError] = []
    if parsed.birth_date is not None and birth_date is not None and birth_date != parsed.birth_date:
        errors.append(
            IdentifierError(
                "birth_date_mismatch",
                MSG_BIRTH_DATE_MISMATCH,
                {"label": label, "encoded": parsed.birth_date.isoformat(), "entered": birth_date.isoformat()},
            )
        )
    if parsed.sex is not None and sex is not None and sex != "":
        entered = Sex(sex)  # anything but male/female is a programming error: ValueError
        if entered != parsed.sex:
            errors.append(
                IdentifierError(
                    "sex_mismatch",
                    MSG_SEX_MISMATCH,
                    {"label": label, "encoded": SEX_TERMS[parsed.sex], "entered": SEX_TERMS[entered]},
                )
            )
    return errors


# Besides letters of any script (and their combining marks) and spaces, a person's name holds
# only the separators of minority and foreign names: middle dots, full stops, hyphens, apostrophes.
_NAME_SEPARATORS = frozenset(" ·•・．.-‐'’")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a person's name (a digit, a symbol, a formula), or None."""
    for character in name.strip():
        if character in _NAME_SEPARATORS or unicodedata.category(character)[0] in "LM":
            continue
        return gettext(
            "A name holds letters only (with · or - between parts); “%(character)s” cannot be in it."
        ) % {"character": character}
    return None
