"""The Docker Engine API front end (a peer of cli/): routes over ``hybridock.Client``."""
