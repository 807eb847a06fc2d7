from meterflow.cli import app

app(prog_name="meterflow")
