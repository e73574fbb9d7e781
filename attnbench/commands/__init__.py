"""The CLI commands, one module per group; each registers itself on ``attnbench.cli.app``."""
