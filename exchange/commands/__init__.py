"""Sub-command groups of the `dx` command line, one module per group."""
