"""Diagnostics of a network before training: every problem a user could hit, one line each.

:func:`check_network` reads the net, its programs and its route files without simulating;
:func:`simulate_own_programs` runs the network's own programs once to see whether the
demand jams. ``traffic-lam check-network`` prints both.
"""

from traffic_lam.diagnostics.check import NetworkCheck, check_network
from traffic_lam.diagnostics.problem import Problem
from traffic_lam.diagnostics.simulate import DemandRun, simulate_own_programs

__all__ = ["DemandRun", "NetworkCheck", "Problem", "check_network", "simulate_own_programs"]
