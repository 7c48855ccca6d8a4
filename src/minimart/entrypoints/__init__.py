"""Drivers of the domain services: the Pyramid web app (REST API, later HTML) and the CLI."""
