"""`python -m bench`: throughput, latency, close time and Redis memory of meterflow on one machine.

Every figure is measured against real servers with load from a process other than the service under
test; see bench/README.md for what each one means and how to compare it with raw broker speed.
"""
