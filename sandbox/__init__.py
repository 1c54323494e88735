"""Hermetic stand-ins for everything outside the scheduler, served on loopback only."""
