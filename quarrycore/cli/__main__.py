from quarrycore.cli.app import app

app()
