"""Unit tests: logic without root or a real registry (in-process stubs where needed)."""
