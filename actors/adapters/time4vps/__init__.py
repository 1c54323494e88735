"""The Time4VPS adapter: the account's server list and each server's details (``client.py``),
its settings (``settings.py``), and what it raises (``errors.py``)."""
