"""Hermetic stand-ins for everything outside the scheduler, served on loopback only.

One package per outside system, as ``actors/adapters/`` has one adapter per system: ``github/``,
``platform/``, ``ssh/``, ``time4vps/``, ``embeddings/``. Beside them: ``world.py`` (the generated
world they all serve, changing between cycles), ``http.py`` (serving, fault injection, counters),
``latency.py`` (a loopback link with delay), ``running.py`` (everything at once; ``python -m sandbox``).
"""
