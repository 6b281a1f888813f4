"""Building the frozen ``Scenario`` from a shaped document, part by part."""
