"""The Time4VPS stand-in: ``app`` (its billing API, as the provider's examples show it)."""
