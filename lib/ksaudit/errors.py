"""The one exception type for errors a user can cause (bad input, bad usage)."""


class KsauditError(Exception):
    """A user-caused error: the message says what was wrong and where.

    The CLI prints it as one line on stderr and exits with code 2.
    """
