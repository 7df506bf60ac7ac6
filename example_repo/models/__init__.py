"""The example repository's models: built from code, random weights."""
