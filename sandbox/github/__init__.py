"""The GitHub stand-in: ``app`` (the organisation's REST endpoints), ``limits`` (rate-limit
accounting), ``payloads`` (GitHub's JSON shapes, checked against its OpenAPI description)."""
