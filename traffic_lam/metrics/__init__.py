"""Scoring: metric declarations, tripinfo delay and travel time, SUMO statistics, SSM conflicts, yellow realism.

Every metric is declared once (:class:`Metric`; the built-in ones in :data:`METRICS`) and
the episode record, results table, summary, plots and report derive from the declarations.
Definitions are in ``docs/definitions.md`` (RESCO's delay: ``timeLoss + departDelay`` over
every vehicle, running and never-inserted ones included).
"""

from traffic_lam.metrics.catalog import METRICS
from traffic_lam.metrics.declaration import COUNT, Catalog, Episode, Metric
from traffic_lam.metrics.record import EpisodeRecord
from traffic_lam.metrics.ssm import SSMCounts, SSMSettings, read_ssm
from traffic_lam.metrics.statistics import SumoStatistics, read_statistics
from traffic_lam.metrics.tripinfo import TripSummary, read_tripinfo, tripinfo_options
from traffic_lam.metrics.yellow import yellow_warnings

__all__ = [
    "COUNT",
    "METRICS",
    "Catalog",
    "Episode",
    "EpisodeRecord",
    "Metric",
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
