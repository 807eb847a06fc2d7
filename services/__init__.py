"""meterflow's entrypoints: the gateway, the processor and the closer (independent of each other), and the
`meterflow` command that starts them and runs the ops commands. They wire `meterflow`'s adapters to its
application handlers; no business rule lives here."""
