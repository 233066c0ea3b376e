"""Channels: thin senders behind one interface (send → ok | retry after | permanent error)."""
