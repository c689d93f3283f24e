"""The benchmarks use the test suite's real parts: registries, image builders, the CLI."""

from tests.conftest import image_builder, session_registry

__all__ = ["image_builder", "session_registry"]
