"""meterflow: usage events in, exact invoices out."""
