"""Errors the user can act on. The CLI prints them as one line and exits with code 2."""


class InputError(Exception):
    """Unreadable input or bad usage: a file that is not a photo, a bad ID, a bad protocol."""
