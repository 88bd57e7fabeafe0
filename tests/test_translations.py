"""Every text a user can see has its Chinese: the catalogue holds a translation for each message
the code and the templates mark for translation.

Two readings of the source: Django's own ``makemessages`` (xgettext, which also reads the
templates), run on a copy of the tree so the project's catalogue is left alone; and Python's
parser, which also finds the messages xgettext cannot see — those marked inside an f-string
(a file name such as ``f"{_('ledger')}-1.xlsx"`` went out in English that way)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib

from config import embedded

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = Path("accounts/locale/zh_Hans/LC_MESSAGES/django.po")
GETTEXT = {"_", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy"}
PGETTEXT = {"pgettext", "pgettext_lazy", "npgettext", "npgettext_lazy"}
# Source that users never see in the portal (tests, benchmarks' own printing, migrations).
SKIPPED = {"tests", "bench", ".venv", "var", "static", "node_modules"}


def _sources() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return [ROOT / name for name in listed if (ROOT / name).exists()]


def _marked_in_python(path: Path) -> list[tuple[int, str | None, str]]:
    """(line, context, message) of every call marking a literal for translation, f-strings included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", None)
        arguments = list(node.args)
        context = None
        if name in PGETTEXT:
            if not arguments or not isinstance(arguments[0], ast.Constant):
                continue
            context = arguments.pop(0).value
        elif name not in GETTEXT:
            continue
        if arguments and isinstance(arguments[0], ast.Constant) and isinstance(arguments[0].value, str):
            found.append((node.lineno, context, arguments[0].value))
    return found


def test_every_message_marked_in_the_python_code_has_its_chinese():
    # Given the catalogue and every message the portal's Python code marks
    translated = {
        (entry.msgctxt, entry.msgid)
        for entry in polib.pofile(str(ROOT / CATALOGUE))
        if entry.translated() and not entry.obsolete
    }
    missing = []
    for path in _sources():
        relative = path.relative_to(ROOT)
        if path.suffix != ".py" or relative.parts[0] in SKIPPED or "migrations" in relative.parts:
            continue
        # When each is looked up
        for line, context, message in _marked_in_python(path):
            if (context, message) not in translated:
                missing.append(
                    f"{relative}:{line}: {message!r}" + (f" (context {context!r})" if context else "")
                )

    # Then none is without a translation
    assert missing == []


def test_makemessages_finds_no_message_without_its_chinese(tmp_path):
    # Given a copy of the portal's code and templates with its catalogue
    for path in _sources():
        relative = path.relative_to(ROOT)
        if relative.parts[0] in SKIPPED or path.suffix not in {".py", ".html", ".txt", ".po"}:
            continue
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, tmp_path / relative)

    # When Django's makemessages gathers the messages into it
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--locale", "zh_Hans", "--no-location", "--verbosity", "0"],
        cwd=tmp_path, check=True,
        # The project's own embedded servers (already running): the copy would start its own.
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PORTAL_VAR_DIR": str(embedded.VAR)},
    )  # fmt: skip

    # Then each message it found has a translation (and none is only a fuzzy guess)
    gathered = polib.pofile(str(tmp_path / CATALOGUE))
    untranslated = [
        (entry.msgctxt, entry.msgid) for entry in gathered if not entry.obsolete and not entry.translated()
    ]
    assert untranslated == []


def test_given_a_short_password_in_chinese_then_djangos_validator_says_so_in_chinese():
    """Django 5.2's MinimumLengthValidator message changed; its own Chinese catalogue lags behind."""
    from django.contrib.auth.password_validation import MinimumLengthValidator
    from django.core.exceptions import ValidationError
    from django.utils import translation

    with translation.override("zh-hans"):
        try:
            MinimumLengthValidator(10).validate("123")
        except ValidationError as refused:
            messages = refused.messages

    assert messages == ["密码太短，至少需要 10 个字符。"]


# Django admin's own messages the portal's catalogue translates because Django's zh_Hans catalogue
# has no Chinese for them: the app list's hidden column headers and a form's error prefix.
DJANGO_LACKS = ["Model name", "Add link", "Change or view list link", "Error:"]


def test_given_djangos_admin_messages_the_portal_translates_then_djangos_own_chinese_still_lacks_each():
    """The portal never overrides a message Django translates itself: should a Django release add
    one of these, its Chinese is Django's and the portal's entry is to be removed."""
    import django

    admin_catalogue = polib.pofile(
        str(Path(django.__file__).parent / "contrib/admin/locale/zh_Hans/LC_MESSAGES/django.po")
    )
    djangos = {entry.msgid: entry.translated() for entry in admin_catalogue if not entry.obsolete}
    ours = {entry.msgid: entry.msgstr for entry in polib.pofile(str(ROOT / CATALOGUE))}

    # Absent, or present without its Chinese.
    assert [message for message in DJANGO_LACKS if djangos.get(message)] == []
    assert [ours.get(message) for message in DJANGO_LACKS] == [
        "模型名称",
        "增加链接",
        "变更或查看列表链接",
        "错误：",
    ]


def test_given_the_admin_index_in_chinese_then_its_hidden_column_headers_are_chinese(world, client):
    client.force_login(world.users["admin"])

    html = client.get("/admin/").content.decode()

    assert (
        '<thead class="visually-hidden">\n          <tr>\n'
        '            <th scope="col">模型名称</th>\n'
        '            <th scope="col">增加链接</th>\n'
        '            <th scope="col">变更或查看列表链接</th>'
    ) in html
    assert "Model name" not in html and "Add link" not in html


def test_given_an_admin_form_with_an_error_in_chinese_then_its_title_says_error_in_chinese(world, client):
    client.force_login(world.users["admin"])

    html = client.post("/admin/accounts/user/add/", {"username": ""}).content.decode()

    assert "<title>错误： " in html


def _admin_field_names_without_chinese() -> list[tuple[str, str, str]]:
    """Every model field the admin names in a list's columns or a form, with the name it shows in
    Chinese, where that name has no Chinese (a field without a marked name shows its own, in
    English: "submitted by")."""
    import re

    from django.contrib import admin
    from django.core.exceptions import FieldDoesNotExist
    from django.utils import translation

    chinese = re.compile(r"[\u4e00-\u9fff]")
    missing = []
    with translation.override("zh-hans"):
        for model, model_admin in admin.site._registry.items():
            names = [*model_admin.list_display, *(model_admin.fields or ())]
            for name in names:
                if not isinstance(name, str) or name in ("__str__", "id"):
                    continue
                try:
                    shown = str(model._meta.get_field(name).verbose_name)
                except FieldDoesNotExist:
                    continue  # the admin's own column, named by its display description
                if not chinese.search(shown):
                    missing.append((model._meta.label, name, shown))
    return sorted(missing)


def test_given_the_admin_in_chinese_then_every_field_it_names_has_a_chinese_name():
    assert _admin_field_names_without_chinese() == []


# django-axes' field names the portal's catalogue translates: django-axes ships no Chinese.
AXES_LACKS = [
    "Attempt Time",
    "Failed Logins",
    "IP Address",
    "Path",
    "User Agent",
    "Access lock out",
    "Logout Time",
]


def test_given_django_axes_field_names_the_portal_translates_then_django_axes_still_has_no_chinese():
    """As for Django's own messages above: should django-axes ship Chinese, the portal's entries go."""
    import axes

    assert (
        sorted(path.name for path in (Path(axes.__file__).parent / "locale").iterdir() if "zh" in path.name)
        == []
    )
    ours = {entry.msgid: entry.msgstr for entry in polib.pofile(str(ROOT / CATALOGUE))}
    assert [ours.get(message) for message in AXES_LACKS] == [
        "尝试时间",
        "登录失败次数",
        "IP地址",
        "路径",
        "浏览器标识",
        "是否锁定",
        "退出时间",
    ]
