"""SQLAlchemy adapters: the schema (tables.py, migrations/), the database plumbing for
pyramid_tm (database.py), the unit of work (unit_of_work.py), and the repositories by
context on a shared base (base.py): catalog.py, store.py, accounts.py, orders.py,
payments.py, audit.py, and the gauges /metrics reads (metrics.py)."""
