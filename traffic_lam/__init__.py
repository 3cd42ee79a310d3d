"""traffic_lam: multi-agent traffic signal control on Eclipse SUMO.

Importing the package has no side effects: SUMO is located lazily, when a
simulation starts, without needing ``SUMO_HOME``.
"""

from traffic_lam.controllers import load
from traffic_lam.env import make_env, make_gym_env, make_vector_env
from traffic_lam.errors import TrafficLamError
from traffic_lam.evaluation import evaluate, resco_protocol

__version__ = "0.1.0"

__all__ = [
    "TrafficLamError",
    "__version__",
    "evaluate",
    "load",
    "make_env",
    "make_gym_env",
    "make_vector_env",
    "resco_protocol",
]
