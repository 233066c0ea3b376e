"""The demo feed: sample messages shipped with the package, replayed for `make run`."""
