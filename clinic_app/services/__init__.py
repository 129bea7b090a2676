"""Use cases. Each public call opens exactly one unit of work and returns domain dataclasses."""
