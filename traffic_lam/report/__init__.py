"""Comparison plots, summary tables and the HTML report of a run."""
