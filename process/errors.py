"""The errors every layer raises and the worker judges: worth retrying, or not."""


class TransientError(Exception):
    """An error worth retrying later: the outside world was briefly unavailable."""


class ConfigurationError(Exception):
    """The process is missing or refused a setting (a variable, a credential): retrying changes
    nothing until an operator acts. The message says what to fix and never quotes a secret."""
