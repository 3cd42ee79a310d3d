"""Bundled networks, installed as the package data ``traffic_lam.networks``."""
