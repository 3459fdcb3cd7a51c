"""The Topolab app: topologies, labs, the lab engine and the command line."""
