"""Subcommands of ``collapse-theory``: one module each, with ``register(subparsers)``.

A command module parses its arguments, calls the library, and prints. It sets
``handler`` (a function of the parsed arguments returning the exit code) on its
subparser. Input errors are raised as ``ValueError`` (or ``OSError`` for files)
and become one line on stderr with exit code 2.
"""
