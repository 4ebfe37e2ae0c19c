from benchsel.cli import app

app()
