"""Evaluation: run a controller on a network and score every episode (:func:`evaluate`).

``python -m traffic_lam.evaluation NETWORK --controller NAME`` does the same from a shell.
"""

from traffic_lam.evaluation.command import main
from traffic_lam.evaluation.run import evaluate, records_csv, resco_protocol

__all__ = ["evaluate", "main", "records_csv", "resco_protocol"]
