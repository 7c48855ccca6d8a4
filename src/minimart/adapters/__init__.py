"""Implementations of the domain's ports on real technology, and in-memory fakes."""
