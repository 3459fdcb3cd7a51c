"""Management commands of the topology app."""
