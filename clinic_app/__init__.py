"""Backstep: charting retro-walking rehabilitation for physiotherapy clinics."""

__version__ = "0.1.0"
