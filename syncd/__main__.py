"""`python -m syncd` is the `syncd` command."""

from syncd.cli.root import main

main()
