"""Error classes the worker uses to decide what is worth retrying."""


class TransientError(Exception):
    """An error worth retrying later: the outside world was briefly unavailable."""
