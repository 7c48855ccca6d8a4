"""In-memory fakes of the ports for the unit tests, one module per context. They keep the
same promises as the SQL adapters: the contract tests run both."""
