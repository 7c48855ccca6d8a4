"""The business of a small shop, in plain Python: no web, database or payment imports."""
