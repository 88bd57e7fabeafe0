"""The portal shell in a real Chromium: sign-in, menus per role, language, scope, lockout, CSP.

Every test runs against pytest-django's threaded live server on data committed by
``transactional_world`` and saves a full-page screenshot of each step under
test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.roles import Role

pytestmark = pytest.mark.browser

BACK_PAYMENTS = ["补缴申请", "申请补缴"]
# Coverage and follow-up lists: clerks chase their village's, insurance and administrators watch theirs.
REPORTS = ["参保率统计", "未参保", "催缴名单", "资助对象未参保名单"]

# The roles that may ask for a long export find them again under 我的导出 (a school's clerk and
# finance have none).
MY_EXPORTS = "我的导出"

# Clerks answer "am I covered?" at the counter.
CLERK_MENU = ["首页", "参保登记", "公示名单", "待遇享受查询", "行政区划", "机构"]
MENU_BY_ROLE = {
    # A village's clerk also applies for refunds and back-payments on a resident's behalf.
    Role.VILLAGE_CLERK: [
        CLERK_MENU[0],
        MY_EXPORTS,
        *CLERK_MENU[1:3],
        *REPORTS,
        "退费申请",
        "申请退费",
        *BACK_PAYMENTS,
        *CLERK_MENU[3:],
    ],
    Role.SCHOOL_CLERK: CLERK_MENU,
    Role.INSURANCE_STAFF: [
        "首页",
        MY_EXPORTS,
        "参保登记",
        "参保登记申请",
        "转移接续（转入）",
        "重复参保",
        "职工参保名单",
        "家庭户导入",
        "户籍人口名册",
        "公示名单",
        *REPORTS,
        "退费申请",
        "申请退费",
        "多征退费",
        "用款计划",
        *BACK_PAYMENTS,
        "待遇享受查询",
        "年度核定",
        "政策规则库",
        "资助类别",
        "资助汇总",
        "行政区划",
        "机构",
        "用户",
    ],
    # Tax collects at its counter and reads the rules it collects by.
    Role.TAX_STAFF: [
        "首页",
        MY_EXPORTS,
        "缴费窗口",
        "集体缴费",
        "银行批量扣款",
        "征收日报",
        "征收进度",
        "退费明细",
        "多征退费",
        "政策规则库",
        "资助类别",
        "行政区划",
        "机构",
    ],
    # Finance funds the subsidies (it sees their totals) and approves insurance's fund-usage plans.
    # Its reports are its own tables: the totals insurance reports, the transfers it made. (English
    # until the lead adds their translations.)
    Role.FINANCE_STAFF: [
        "首页",
        "政策规则库",
        "用款计划",
        "资助资金",
        "按月拨款",
        "资助类别",
        "行政区划",
        "机构",
    ],
    Role.ADMINISTRATOR: [
        "首页",
        MY_EXPORTS,
        "职工参保名单",
        "家庭户导入",
        "户籍人口名册",
        "公示名单",
        "征收进度",
        *REPORTS,
        "待遇享受查询",
        "年度核定",
        "政策规则库",
        "资助资金",
        "按月拨款",
        "资助名单导入",
        "资助类别",
        "资助汇总",
        "行政区划",
        "机构",
        "用户",
        "消息监控",
        "死信",
        "对账",
        "系统状态",
        "接口文档",
    ],
}
ROLE_LABELS = {
    Role.VILLAGE_CLERK: "村级经办员",
    Role.SCHOOL_CLERK: "学校经办员",
    Role.INSURANCE_STAFF: "医保经办人员",
    Role.TAX_STAFF: "税务人员",
    Role.FINANCE_STAFF: "财政人员",
    Role.ADMINISTRATOR: "系统管理员",
}
OTHER_COUNTY_VILLAGE = "141024100201"  # 秦壁村, 洪洞县: outside 尧都区's clerk's area


def _path(page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


# --- 1. each role signs in with the keyboard and sees its own menu --------------------------------


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_given_a_user_of_each_role_when_signing_in_with_the_keyboard_then_home_shows_name_role_and_menu(
    page, sign_in, shoot, transactional_world, role
):
    user = transactional_world.user_for(role)

    sign_in(user.username)

    assert _path(page) == "/"
    expect(page.locator("[data-testid=whoami] strong")).to_have_text(user.full_name)
    expect(page.locator("[data-testid=whoami]")).to_contain_text(user.full_name)
    expect(page.locator("[data-testid=home-role]")).to_have_text(f"{ROLE_LABELS[role]} · {user.agency.name}")
    expect(page.locator("nav.sidebar a")).to_have_text(MENU_BY_ROLE[role])
    shoot("home")


# --- 2. Chinese by default, English on request ----------------------------------------------------


def test_given_a_browser_asking_for_english_when_the_login_page_opens_then_it_is_in_chinese(
    page, shoot, transactional_world
):
    response = page.goto("/login/")

    assert response.request.headers["accept-language"].startswith("en-US")
    expect(page.locator("h1")).to_have_text("登录")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    shoot("login")


def test_given_the_login_page_when_english_is_chosen_then_it_persists_until_chinese_is_chosen_again(
    page, sign_in, shoot, transactional_world
):
    user = transactional_world.user_for(Role.TAX_STAFF)
    page.goto("/login/")

    page.get_by_role("button", name="English").click()

    expect(page.locator("h1")).to_have_text("Sign in")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shoot("1-login-english")

    sign_in(user.username)  # the next page, after a fresh session

    expect(page.locator("h1")).to_have_text(f"Welcome, {user.full_name}")
    expect(page.locator("nav.sidebar a").first).to_have_text("Home")
    shoot("2-home-english")

    page.get_by_role("button", name="简体中文").click()

    expect(page.locator("h1")).to_have_text(f"您好，{user.full_name}")
    expect(page.locator("nav.sidebar a").first).to_have_text("首页")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    shoot("3-home-chinese")


# --- 3. a village clerk sees only their own village ----------------------------------------------


def test_given_a_village_clerk_when_opening_regions_then_their_own_village_is_shown(
    page, sign_in, shoot, transactional_world
):
    sign_in(transactional_world.user_for(Role.VILLAGE_CLERK).username)

    response = page.goto("/regions/")

    assert response.status == 200
    expect(page.locator("h1")).to_have_text("屯里村")
    expect(page.locator("[data-testid=region-code]")).to_have_text("141002100201")
    shoot("regions")


def test_given_a_village_clerk_when_opening_the_other_countys_village_by_url_then_it_is_not_found(
    page, sign_in, shoot, transactional_world
):
    sign_in(transactional_world.user_for(Role.VILLAGE_CLERK).username)

    response = page.goto(f"/regions/{OTHER_COUNTY_VILLAGE}/")

    assert response.status == 404
    expect(page.locator("h1")).to_have_text("未找到")
    expect(page.locator("main")).not_to_contain_text("秦壁村")
    shoot("not-found")


def test_given_a_village_clerk_when_opening_users_then_access_is_denied(
    page, sign_in, shoot, transactional_world
):
    sign_in(transactional_world.user_for(Role.VILLAGE_CLERK).username)

    response = page.goto("/users/")

    assert response.status == 403
    expect(page.locator("h1")).to_have_text("无权访问")
    shoot("forbidden")


# --- 4. an administrator drills down the tree ----------------------------------------------------


def test_given_an_administrator_when_clicking_down_the_region_tree_then_breadcrumbs_follow_the_path(
    page, sign_in, shoot, transactional_world
):
    sign_in(transactional_world.user_for(Role.ADMINISTRATOR).username)
    main = page.locator("main")
    crumbs = page.locator("nav.crumbs")

    path: list[str] = []
    steps = [("city", "临汾市"), ("county", "尧都区"), ("township", "屯里镇"), ("village", "屯里村")]
    for step, (level, name) in enumerate(steps, start=1):
        main.get_by_role("link", name=name, exact=True).click()
        path.append(name)

        expect(page.locator("h1")).to_have_text(name)
        expect(crumbs).to_have_text(" › ".join(path))
        expect(crumbs.locator("a")).to_have_text(path[:-1])
        shoot(f"{step}-{level}")

    expect(page.locator("[data-testid=region-code]")).to_have_text("141002100201")
    expect(page.locator("[data-testid=history]")).to_be_visible()


# --- 5. five wrong passwords lock the account ------------------------------------------------------


def test_given_five_wrong_passwords_when_signing_in_with_the_right_one_then_the_account_is_locked(
    page, sign_in, shoot, transactional_world
):
    username = transactional_world.user_for(Role.FINANCE_STAFF).username
    for attempt in range(1, 6):
        sign_in(username, "not-the-password")
        expect(page.locator("[data-testid=whoami]")).to_have_count(0)
        if attempt < 5:  # not locked before the fifth failure
            expect(page.get_by_role("alert")).to_contain_text("用户名或密码不正确")
        shoot(f"wrong-{attempt}")

    sign_in(username)

    expect(page.locator("[data-testid=locked-out]")).to_be_visible()
    expect(page.locator("[data-testid=locked-out]")).to_contain_text("账户已锁定")
    expect(page.locator("[data-testid=whoami]")).to_have_count(0)
    shoot("right-password-locked")


# --- 6. the content-security policy holds --------------------------------------------------------


def test_given_the_csp_when_browsing_home_and_region_pages_then_nothing_is_refused_and_no_script_fails(
    page, sign_in, shoot, page_log, transactional_world
):
    sign_in(transactional_world.user_for(Role.ADMINISTRATOR).username)
    regions = transactional_world.regions
    pages = {
        "home": "/",
        "regions": "/regions/",
        "county": f"/regions/{regions['yaodu'].code}/",
        "township": f"/regions/{regions['tunli'].code}/",
        "village": f"/regions/{regions['tunli_village'].code}/",
        "agencies": "/agencies/",
        "users": "/users/",
    }

    for step, url in pages.items():
        response = page.goto(url)
        page.wait_for_load_state("networkidle")

        assert response.status == 200, url
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy, url
        assert "style-src 'self'" in policy, url
        shoot(step)

    assert page_log.csp_violations() == []
    assert page_log.errors == []
    assert [line for line in page_log.console if line.startswith("error")] == []


def test_given_the_csp_when_a_page_gets_an_inline_script_then_the_browser_refuses_it(
    page, sign_in, transactional_world
):
    """Control for the test above: the listener does see a violation when there is one."""
    sign_in(transactional_world.user_for(Role.TAX_STAFF).username)

    with page.expect_console_message(lambda message: "CSP violation" in message.text):
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.injected = true;";
                document.body.appendChild(script);
            }"""
        )

    assert page.evaluate("() => window.injected === undefined")


def test_given_an_administrator_when_opening_the_api_docs_then_swagger_lists_the_region_endpoints(
    page, sign_in, shoot, transactional_world
):
    sign_in(transactional_world.user_for(Role.ADMINISTRATOR).username)

    response = page.goto("/api/docs/")

    assert response.status == 200
    expect(page.locator(".information-container .title")).to_contain_text("城乡居民医保经办平台 API")
    expect(page.locator('.opblock-summary-path[data-path="/api/regions/"]').first).to_be_visible()
    shoot("swagger")


# --- 7. signing out ---------------------------------------------------------------------------------


def test_given_a_signed_in_user_when_clicking_sign_out_then_the_login_page_returns(
    page, sign_in, shoot, transactional_world
):
    sign_in(transactional_world.user_for(Role.SCHOOL_CLERK).username)
    shoot("1-signed-in")

    page.get_by_role("button", name="退出").click()

    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.locator("h1")).to_have_text("登录")
    expect(page.locator("[data-testid=whoami]")).to_have_count(0)
    shoot("2-signed-out")

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))


def test_given_a_page_without_a_field_to_start_in_when_the_first_tab_is_pressed_then_a_link_skips_the_menu(
    page, sign_in, shoot, page_log, transactional_world
):
    # Given insurance staff on the home page (27 menu entries before its content)
    sign_in("insurance_a")
    page.goto("/")

    # When they press Tab once
    page.keyboard.press("Tab")

    # Then the link to the content has the focus and shows at the top of the page
    skip = page.get_by_test_id("skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_have_text("跳到正文")
    assert skip.bounding_box()["y"] >= 0
    shoot("skip-link")

    # And Enter and the next Tab land inside the page's content, past the top bar and the menu
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null") is True
    assert page.evaluate("document.activeElement.closest('nav, header') === null") is True
    assert page_log.csp_violations() == [] and page_log.errors == []
