"""The HTML pages: sign in, topologies, the editor."""
