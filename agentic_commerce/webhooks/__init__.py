"""Order webhooks: signing (and verification, for receivers) and event payloads."""
