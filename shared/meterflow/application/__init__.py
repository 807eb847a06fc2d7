"""Use cases: one module per use case, each taking the small ports it needs (never an adapter class)."""
