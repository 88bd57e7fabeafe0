"""Medical insurance bureau with finance: back-payments, refunds and fund-usage plans."""
