"""`python -m services …` is the `meterflow` command (used where the console script may not be on PATH)."""

from services.cli import app

app(prog_name="meterflow")
