"""Collective payments and bank files in a real Chromium: a tax clerk opens a village's persons
due, unticks one (the total follows), enters the cash counted and records the batch; the ledger
(台账) to sign is printable and downloadable; then a bank's debit file is uploaded, a real Celery
worker matches it while the page shows the progress, and the lines it could not match are listed
with their reasons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from collection.models import Payment, PaymentBatch
from tests.collection.support import TUNLI, due, open_today, payer
from tests.conftest import subprocess_env
from tests.private_broker import task_on_private_redis
from tests.sharing.support import Worker

pytestmark = pytest.mark.browser

IDS = [f"14100219800101{n:04d}" for n in range(1, 5)]


@pytest.fixture
def private_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis of this test's own for the bank file's task."""
    from collection.tasks import process_bank_file

    monkeypatch.setattr("sharing.services.delivery_start", lambda *, fanout=1: fanout)
    with task_on_private_redis(process_bank_file, tmp_path, monkeypatch) as url:
        yield url


def test_given_a_village_when_the_clerk_records_its_collective_payment_then_the_ledger_follows(
    page, sign_in, shoot, page_log, transactional_world, private_broker, tmp_path
):
    for number, person_id in enumerate(IDS, start=1):
        payer(f"村民{number}", person_id)
        due(person_id, schedule=open_today())

    sign_in("tax_a")
    page.goto("/collection/collective/")
    page.get_by_test_id("village").select_option(TUNLI)
    page.get_by_test_id("village-form").get_by_role("button").click()
    expect(page.get_by_test_id("candidate")).to_have_count(4)
    expect(page.locator("[data-ticked-total]")).to_have_text("1,600.00")
    page.get_by_test_id("candidate").nth(3).locator("input[type=checkbox]").uncheck()
    expect(page.locator("[data-ticked-total]")).to_have_text("1,200.00")
    expect(page.locator("[data-ticked-count]")).to_have_text("3")
    page.locator("input[name=paid_by]").fill("李会计")
    page.locator("input[name=total_yuan]").fill("1200")
    shoot("1-village")
    page.get_by_test_id("collective-submit").click()

    batch = page.get_by_test_id("batch")
    expect(batch).to_have_attribute("data-payments", "3")
    expect(batch).to_have_attribute("data-total-fen", "120000")
    expect(page.get_by_test_id("line")).to_have_count(3)
    shoot("2-batch")
    with page.expect_download() as download:
        page.get_by_test_id("ledger-xlsx").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    assert sorted(Payment.objects.values_list("person_id", flat=True)) == IDS[:3]

    day = timezone.localdate().isoformat()
    debit = tmp_path / "debit.csv"
    debit.write_text(
        "流水号,身份证号,姓名,缴费年度,扣款金额,扣款结果,扣款日期,失败原因\n"
        f"B1,{IDS[3]},村民4,2027,400.00,成功,{day},\n"
        f"B2,{IDS[0]},村民1,2027,400.00,成功,{day},\n"
        f"B3,141002199901019999,无此人,2027,400.00,失败,{day},账户余额不足\n",
        encoding="gb18030",
    )
    page.goto("/collection/bank-debits/")
    page.locator("input[name=bank_name]").fill("中国农业银行尧都支行")
    page.locator("input[name=file]").set_input_files(str(debit))
    shoot("3-bank-upload")
    page.get_by_test_id("bank-submit").click()
    expect(page.get_by_test_id("batch")).to_have_attribute("data-status", "queued")
    expect(page.locator("[data-progress-bar]")).to_be_visible()
    shoot("4-bank-waiting")

    worker = Worker(subprocess_env(PORTAL_BROKER_URL=private_broker), tmp_path / "worker.log", concurrency=1)
    try:
        # The page polls the progress and reloads itself when the worker is done.
        expect(page.get_by_test_id("batch")).to_have_attribute("data-status", "done", timeout=90_000)
    finally:
        worker.stop()
    expect(page.get_by_test_id("batch")).to_have_attribute("data-payments", "1")
    expect(page.get_by_test_id("problem")).to_have_count(2)
    expect(page.get_by_test_id("problem").first).to_have_attribute("data-money-taken", "1")
    shoot("5-bank-result")
    assert PaymentBatch.objects.count() == 2
    assert page_log.errors == [] and page_log.csp_violations() == []
