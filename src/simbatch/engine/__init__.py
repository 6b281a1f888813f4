"""The SimPy model of the batch framework (internal; use ``simbatch.simulate``)."""
