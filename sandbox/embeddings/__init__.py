"""The embeddings stand-in: ``app`` (an OpenAI-compatible ``/v1/embeddings`` endpoint)."""
