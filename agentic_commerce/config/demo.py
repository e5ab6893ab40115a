"""What the server runs with when nothing is configured: the demo key, merchant and catalog."""

from __future__ import annotations

from pathlib import Path

DEMO_API_KEY = "api_key_demo_123"
DEMO_MERCHANT = "merchant_demo"
DEFAULT_CATALOG = Path(__file__).with_name("catalog.json")
