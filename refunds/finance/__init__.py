"""The finance bureau's side of over-collection refunds: the fund-usage plans (用款计划) it receives.

A Django app of its own (label ``finance``) nested in ``refunds`` because the team fixed the
top-level apps; it never imports the rest of ``refunds`` (import-linter): finance learns of a plan
only from ``refund.fund_plan_submitted`` and answers only with ``refund.fund_plan_decided`` and
``refund.funds_transferred``.
"""
