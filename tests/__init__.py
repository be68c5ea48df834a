"""The test suite (a package, so a test module that imports from another is loaded once)."""
