"""Defences that cut across stages: outbound address rules, login throttling, accounts and the two-person rule."""
