"""Every port a use case takes, one module per area: the Protocols the adapters satisfy structurally (no
adapter imports this package), and that unit tests satisfy with the fakes the contract suites check against
the real adapters. A new use case looks here first, and adds its ports here, never beside its handler."""
