"""Experiments: scenario files, jobs, executors and the results store."""
