"""The reliability drills (issue 17): kills and restarts of Topolab's parts, in a short form run in CI."""
