"""The HTTP side: console, JSON API, provider hooks, public feeds and health, in one aiohttp app."""
