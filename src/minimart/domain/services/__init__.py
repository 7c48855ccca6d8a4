"""The use cases: each service takes a unit of work and the adapters it needs."""
