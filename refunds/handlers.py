"""What insurance does with the messages tax and finance send it about over-collection refunds."""

from __future__ import annotations

import datetime as dt

from sharing.handlers import Batch, handles

from . import services


@handles("refund.overcollection_requested")
def record_overcollection_requests(batch: Batch) -> None:
    """Tax's over-collection requests join the county's pool, waiting for a fund-usage plan, or are
    refused when more is asked than is left of the year's payment."""
    sql, params = batch.rows_sql()
    services.overcollection_requests_record(rows_sql=sql, params=params)


@handles("refund.fund_plan_decided")
def apply_fund_plan_decisions(batch: Batch) -> None:
    """Finance approved or rejected a plan (one message a plan, in order per plan)."""
    for message in batch:
        payload = message.payload
        services.fund_plan_decided(
            plan_id=payload["plan_id"],
            decision=payload["decision"],
            reason=payload.get("reason") or "",
            decided_on=dt.date.fromisoformat(payload["decided_on"]),
        )


@handles("refund.funds_transferred")
def apply_funds_transferred(batch: Batch) -> None:
    """Finance transferred an approved plan's funds to insurance."""
    for message in batch:
        payload = message.payload
        services.fund_plan_funded(
            plan_id=payload["plan_id"],
            voucher=payload["voucher"],
            transferred_on=dt.date.fromisoformat(payload["transferred_on"]),
        )
