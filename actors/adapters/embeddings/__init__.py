"""Embeddings: text -> vectors, behind one interface (``Embedder``) with two implementations:
an OpenAI-compatible ``/v1/embeddings`` endpoint (``remote.py``) when ``EMBEDDINGS_URL`` is set,
else a small model that ships inside its wheel (``local.py``: WordLlama, no download, no key, no
GPU). ``extractive.py`` summarises documents with the same vectors. ``settings.py`` picks."""
