"""The `rafka` command line."""
