"""What the services need from the outside world, as Protocols, one module per context.

Adapters (and the fakes in tests/) implement them; mypy holds both to these shapes."""
