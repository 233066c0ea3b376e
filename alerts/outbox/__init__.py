"""The durable outbox: fan-out to delivery rows, and workers that claim and send them."""
