"""SQLAlchemy adapters: tables, repositories and the database plumbing for pyramid_tm."""
