"""Allow `python -m minidock`."""

from minidock.cli.main import main

main()
