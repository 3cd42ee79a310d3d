"""Traffic signals: green phases derived from any program, transitions, timing rules."""

from traffic_lam.signals.layout import SignalLayout, read_signal_layouts
from traffic_lam.signals.phases import all_red_state, green_phases, yellow_state
from traffic_lam.signals.traffic_signal import SignalTiming, TrafficSignal

__all__ = [
    "SignalLayout",
    "SignalTiming",
    "TrafficSignal",
    "all_red_state",
    "green_phases",
    "read_signal_layouts",
    "yellow_state",
]
