"""What the test suite and the bench share: the workload they send, the settings they hand a service as
its environment, the figures they read back, and polling with a deadline.

One kit, so that a fault test and a benchmark mean the same thing by "the workload" and "counted", and a
fix to either lands in both. It imports the core and never the services; neither the core nor the services
import it (an import contract says so).
"""
