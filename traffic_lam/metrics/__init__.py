"""Scoring: tripinfo delay and travel time, SUMO statistics, SSM conflicts, yellow realism, episode records.

Definitions follow DESIGN.md §4 (RESCO's delay: ``timeLoss + departDelay`` over every
vehicle, running and never-inserted ones included).
"""

from traffic_lam.metrics.record import EpisodeRecord
from traffic_lam.metrics.ssm import SSMCounts, SSMSettings, read_ssm
from traffic_lam.metrics.statistics import SumoStatistics, read_statistics
from traffic_lam.metrics.tripinfo import TripSummary, read_tripinfo, tripinfo_options
from traffic_lam.metrics.yellow import yellow_warnings

__all__ = [
    "EpisodeRecord",
    "SSMCounts",
    "SSMSettings",
    "SumoStatistics",
    "TripSummary",
    "read_ssm",
    "read_statistics",
    "read_tripinfo",
    "tripinfo_options",
    "yellow_warnings",
]
