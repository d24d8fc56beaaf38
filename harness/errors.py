"""One exception type for mistakes the user can fix; the CLI prints it as one line, without a traceback."""


class HarnessError(Exception):
    """A user-facing error: the message names the file, field or flag and what to do."""
