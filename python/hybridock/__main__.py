"""``python -m hybridock``: the same CLI as the ``hybridock`` console script."""

from hybridock.cli.main import main

main()
