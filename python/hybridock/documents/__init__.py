"""docker's documents, built once: ``inspect``'s documents and the Engine API's list entries
(``GET /containers/json``, ``GET /images/json``), with docker 20.10's keys and values.

One module per resource; each function takes the ``Client`` whose records it describes. The
CLI and the Engine API service reach them through the ``Client`` methods of the same names
(``Client.inspect_container``, ``Client.container_summary``, ...), never directly.
"""
