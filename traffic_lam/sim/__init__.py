"""Simulation layer: finding SUMO, resolving networks, opening connections."""
