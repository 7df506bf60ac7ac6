"""The base commit: resolving it, measuring it in a throwaway worktree, in its own process, with a cache."""
