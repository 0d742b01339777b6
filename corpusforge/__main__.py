from corpusforge.cli import app

app()
