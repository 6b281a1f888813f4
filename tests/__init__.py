"""simbatch test suite (a regular package, so no installed "tests" package can shadow it)."""
