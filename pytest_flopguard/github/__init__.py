"""GitHub: the REST API, the sticky pull request comment, the Actions outputs and the results artifact."""
