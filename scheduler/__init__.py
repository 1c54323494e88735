"""The shared runtime of the ticker and the workers (settings, logging, Redis), and the CLI.

Importing this package imports no actor: the ticker stays light.
"""
