"""Pure-Python clinical core: records, vocabularies, validation, measures, scoring, progress.

Nothing in this package may import Qt or SQLAlchemy.
"""
