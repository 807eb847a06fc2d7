"""In-memory fakes of our own ports, for unit tests only; each is checked by a contract suite against
the real adapter in tests/integration."""
