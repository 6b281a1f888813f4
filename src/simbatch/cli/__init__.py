"""The ``simbatch`` command line: ``main`` assembles it, one module per command family."""
