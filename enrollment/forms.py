"""Forms of the registration pages: a household form and a formset of member rows.

The forms only turn what was typed into values (dates, choices) and fill in what the ID number
already says (birth date, sex). Every rule is the service's: its ``ValidationError`` keys such
as ``members.2.id_number`` are put back onto the row and field they are about
(``apply_service_errors``), so the clerk sees each message next to what it is about and keeps
everything typed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import BaseFormSet, formset_factory
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from accounts.models import Region, RegionLevel
from accounts.scope import Scope

from . import identifiers
from .models import HouseholdKind, IdKind, PersonCategory, Relation, Sex
from .services import MemberInput, RowInput

DATE_INPUT_FORMATS = ["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y.%m.%d"]
URBAN_SUFFIXES = ("社区", "居委会", "居民委员会")
FOREIGN_KINDS = (IdKind.FOREIGN_PASSPORT, IdKind.FOREIGN_PERMANENT_RESIDENCE)
MEMBERS_PREFIX = "members"

# The 56 ethnic groups, for the datalist under the ethnicity field (typing stays free).
ETHNICITIES = [
    "汉族",
    "蒙古族",
    "回族",
    "藏族",
    "维吾尔族",
    "苗族",
    "彝族",
    "壮族",
    "布依族",
    "朝鲜族",
    "满族",
    "侗族",
    "瑶族",
    "白族",
    "土家族",
    "哈尼族",
    "哈萨克族",
    "傣族",
    "黎族",
    "傈僳族",
    "佤族",
    "畲族",
    "高山族",
    "拉祜族",
    "水族",
    "东乡族",
    "纳西族",
    "景颇族",
    "柯尔克孜族",
    "土族",
    "达斡尔族",
    "仫佬族",
    "羌族",
    "布朗族",
    "撒拉族",
    "毛南族",
    "仡佬族",
    "锡伯族",
    "阿昌族",
    "普米族",
    "塔吉克族",
    "怒族",
    "乌孜别克族",
    "俄罗斯族",
    "鄂温克族",
    "德昂族",
    "保安族",
    "裕固族",
    "京族",
    "塔塔尔族",
    "独龙族",
    "鄂伦春族",
    "赫哲族",
    "门巴族",
    "珞巴族",
    "基诺族",
]


def _blank(label: str | Any = "—") -> list[tuple[str, Any]]:
    return [("", label)]


class HouseholdForm(forms.Form):
    """The household part of the form: where, which kind, the permit number, the address."""

    region_code = forms.ChoiceField(label=gettext_lazy("Village or community"), required=False)
    kind = forms.ChoiceField(
        label=gettext_lazy("Household kind"), choices=HouseholdKind.choices, initial=HouseholdKind.HUKOU
    )
    residence_permit_number = forms.CharField(
        label=gettext_lazy("Residence permit number"), max_length=40, required=False
    )
    address = forms.CharField(label=gettext_lazy("Address"), max_length=200, required=False)
    # An existing household's revision when the form was opened: a save after a change is refused.
    revision = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(
        self, *args: Any, villages: Sequence[Region] = (), fixed_region: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.villages = list(villages)
        field = self.fields["region_code"]
        field.choices = [(v.code, f"{v.name}（{v.code}）") for v in self.villages]
        if len(self.villages) == 1:
            field.initial = self.villages[0].code
        if fixed_region:  # an existing household stays where it is
            del self.fields["region_code"]
        self.fields["kind"].widget.attrs.update({"data-household-kind": "", "autofocus": True})
        self.fields["residence_permit_number"].widget.attrs.update({"autocomplete": "off"})
        self.fields["address"].widget.attrs.update({"autocomplete": "off", "class": "wide"})

    def clean_region_code(self) -> str:
        code = self.cleaned_data.get("region_code") or ""
        if not code and len(self.villages) == 1:
            return self.villages[0].code
        if not code:
            raise ValidationError(_("Choose the village or community."))
        return code

    @property
    def shows_region(self) -> bool:
        return "region_code" in self.fields and len(self.villages) > 1


def villages_in(scope: Scope) -> list[Region]:
    """The villages and communities a clerk may register households in (their own, for a village
    clerk; none for a school's clerk, who registers students on the school roster page)."""
    if scope.school_id is not None:
        return []
    return list(scope.filter(Region.objects.filter(level=RegionLevel.VILLAGE)).order_by("code")[:2000])


def default_category(region: Region | None) -> str:
    if region is not None and region.name.endswith(URBAN_SUFFIXES):
        return PersonCategory.URBAN
    return PersonCategory.RURAL


class MemberForm(forms.Form):
    """One member row. Nothing is required here: a row left blank is skipped, the rest is the service's."""

    person_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # The person's revision when the form was opened (a correction): a save after a change is refused.
    revision = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=60, required=False)
    id_kind = forms.ChoiceField(
        label=gettext_lazy("ID kind"), choices=IdKind.choices, initial=IdKind.RESIDENT_ID, required=False
    )
    id_number = forms.CharField(label=gettext_lazy("ID number"), max_length=32, required=False)
    nationality = forms.CharField(label=gettext_lazy("Nationality"), max_length=3, required=False)
    sex = forms.ChoiceField(label=gettext_lazy("Sex"), choices=_blank() + Sex.choices, required=False)
    birth_date = forms.DateField(
        label=gettext_lazy("Birth date"),
        input_formats=DATE_INPUT_FORMATS,
        required=False,
        widget=forms.DateInput(format="%Y-%m-%d"),
    )
    relation = forms.ChoiceField(
        label=gettext_lazy("Relation"), choices=_blank() + Relation.choices, required=False
    )
    category = forms.ChoiceField(
        label=gettext_lazy("Category"),
        choices=PersonCategory.choices,
        initial=PersonCategory.RURAL,
        required=False,
    )
    ethnicity = forms.CharField(label=gettext_lazy("Ethnicity"), max_length=20, required=False)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=20, required=False)

    FIELD_ORDER = (
        "name",
        "id_kind",
        "id_number",
        "sex",
        "birth_date",
        "relation",
        "category",
        "ethnicity",
        "phone",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        attrs = {
            "name": {"autocomplete": "off", "data-field": "name", "class": "in-name"},
            "id_kind": {"data-field": "id_kind", "class": "in-kind"},
            "id_number": {
                "autocomplete": "off",
                "data-field": "id_number",
                "class": "in-id",
                "spellcheck": "false",
                "inputmode": "text",
            },
            "nationality": {
                "autocomplete": "off",
                "data-field": "nationality",
                "class": "in-nat",
                "placeholder": "USA",
            },
            "sex": {"data-field": "sex", "class": "in-sex"},
            "birth_date": {
                "autocomplete": "off",
                "data-field": "birth_date",
                "class": "in-date",
                "placeholder": "YYYY-MM-DD",
            },
            "relation": {"data-field": "relation", "class": "in-rel"},
            "category": {"data-field": "category", "class": "in-cat"},
            "ethnicity": {
                "autocomplete": "off",
                "data-field": "ethnicity",
                "class": "in-eth",
                "list": "ethnicities",
            },
            "phone": {"autocomplete": "off", "data-field": "phone", "class": "in-phone", "inputmode": "tel"},
        }
        for name, extra in attrs.items():
            self.fields[name].widget.attrs.update(extra)
            self.fields[name].widget.attrs["aria-label"] = str(self.fields[name].label)

    def is_blank(self) -> bool:
        """Nothing typed (a prefilled row whose name and number were cleared counts as blank: left out)."""
        data = getattr(self, "cleaned_data", {})
        return not any(
            (data.get(name) or "").strip()
            for name in ("name", "id_number", "ethnicity", "phone", "nationality")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.is_blank():
            return data
        data["id_kind"] = data.get("id_kind") or IdKind.RESIDENT_ID
        if data.get("birth_date") and data.get("sex"):
            return data
        try:
            parsed = identifiers.parse_identifier(
                data["id_kind"], data.get("id_number"), nationality=data.get("nationality") or None
            )
        except identifiers.IdentifierError:
            return data  # the service says what is wrong with the number, next to it
        if not data.get("birth_date"):
            if parsed.birth_date is None:
                self.add_error("birth_date", _("Enter the birth date (YYYY-MM-DD)."))
            else:
                data["birth_date"] = parsed.birth_date
        if not data.get("sex"):
            if parsed.sex is None:
                self.add_error("sex", _("Choose the sex."))
            else:
                data["sex"] = str(parsed.sex)
        return data

    def member_input(self, *, category: str | None = None, relation: str | None = None) -> MemberInput:
        data = self.cleaned_data
        return MemberInput(
            id_kind=data.get("id_kind") or IdKind.RESIDENT_ID,
            id_number=data.get("id_number") or "",
            name=data.get("name") or "",
            sex=data.get("sex") or "",
            birth_date=data.get("birth_date"),  # type: ignore[arg-type]  # None only with a bad number: refused
            relation=relation if relation is not None else data.get("relation") or "",
            category=category if category is not None else data.get("category") or PersonCategory.RURAL,
            ethnicity=data.get("ethnicity") or "",
            phone=data.get("phone") or "",
            nationality=data.get("nationality") or "",
        )

    def ordered_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.FIELD_ORDER]


class BaseMemberFormSet(BaseFormSet):
    """Member rows; the first row is the head of household."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", MEMBERS_PREFIX)
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "use_required_attribute": False}

    def filled(self) -> list[tuple[int, MemberForm]]:
        """(row index on the page, form) of every row that is not blank."""
        return [(i, form) for i, form in enumerate(self.forms) if form.is_valid() and not form.is_blank()]

    def row_inputs(self, **overrides: str) -> tuple[list[RowInput], list[int]]:
        """What the service takes, and for each of its rows the page row it came from."""
        rows, index_map = [], []
        for page_index, form in self.filled():
            rows.append(
                RowInput(
                    member=form.member_input(**overrides),
                    person_id=form.cleaned_data.get("person_id"),
                    revision=form.cleaned_data.get("revision"),
                )
            )
            index_map.append(page_index)
        return rows, index_map


def member_formset_class(*, extra: int = 0, max_num: int = 200) -> type[BaseMemberFormSet]:
    return formset_factory(
        MemberForm,
        formset=BaseMemberFormSet,
        extra=extra,
        max_num=max_num,
        validate_max=True,
        absolute_max=max_num,
    )


MemberFormSet = member_formset_class()


def apply_service_errors(
    error: ValidationError,
    *,
    formset: BaseMemberFormSet | None,
    index_map: Sequence[int] = (),
    form: forms.Form | None = None,
) -> list[str]:
    """Put a service's ValidationError onto the right row and field; return what fits nowhere."""
    loose: list[str] = []
    if not hasattr(error, "error_dict"):
        return list(error.messages)
    for key, errors in error.message_dict.items():
        parts = key.split(".")
        if parts[0] == "members" and len(parts) == 3 and formset is not None and parts[1].isdigit():
            service_index = int(parts[1])
            page_index = index_map[service_index] if service_index < len(index_map) else service_index
            if page_index < len(formset.forms):
                row = formset.forms[page_index]
                field = parts[2] if parts[2] in row.fields else None
                for message in errors:
                    row.add_error(field, message)
                continue
        if form is not None and key in form.fields:
            for message in errors:
                form.add_error(key, message)
            continue
        if formset is not None and len(formset.forms) == 1 and key in formset.forms[0].fields:
            for message in errors:
                formset.forms[0].add_error(key, message)
            continue
        loose.extend(errors)
    return loose
