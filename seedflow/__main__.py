from seedflow.cli import entry

entry()
