"""The ``hybridock`` command line: docker's commands, flags, columns and exit codes."""
