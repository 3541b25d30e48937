"""Thin aiohttp handlers: parse, call one use case, answer."""
