"""SQLAlchemy models, engine set-up, migrations, unit of work, repositories and backup."""
