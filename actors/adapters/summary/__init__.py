"""Project summaries through an OpenAI-compatible ``/v1/chat/completions`` endpoint (``SUMMARY_URL``)."""
