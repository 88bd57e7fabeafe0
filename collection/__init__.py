"""Tax bureau: due items, payments, receipts and deposit records."""
