from dhg.cli import app

app(prog_name="dhg")
