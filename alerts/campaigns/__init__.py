"""Campaigns: seasonal and on-demand science communication from a calendar, through the same approval."""
