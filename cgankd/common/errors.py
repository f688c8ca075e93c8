"""The one exception type for mistakes a user can make (paths, keys, shapes, names).

The CLI turns it into a single line on stderr and exit code 2; anything else is a bug
and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input: reported as one line, exit code 2."""
