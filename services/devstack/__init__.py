"""The development runtime: the embedded Kafka-protocol broker, Redis and Postgres that `make run` and the test
suite start from PyPI wheels. Not part of the core, and never imported by a running service's process: only the
supervisor (`meterflow run`), the tests and the benchmarks start it."""
