"""The project's benchmarks: each measures our way against a baseline in the same run."""
