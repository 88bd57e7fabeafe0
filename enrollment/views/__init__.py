"""Pages of the enrollment app, one module per area of work (thin: scope, form, service, template)."""
