"""The webhook delivery worker (`meterflow webhooks`): a loop around application/webhook_delivery.py."""
