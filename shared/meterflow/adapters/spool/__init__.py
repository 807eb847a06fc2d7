"""The gateway's write-ahead spool (docs/spool.md): an acknowledged batch is on the gateway's disk before
its 202, and stays there until it is known to be counted."""
