"""Watch a controller drive: sumo-gui live, or an animated GIF recorded under Xvfb with every signal's green and queue.

* :mod:`~traffic_lam.replay.play`: a run folder's controller replayed (``traffic-lam replay``), and the
  clips a scenario's ``replay`` section asks for (:func:`record_clips`, embedded in ``report.html``);
* :mod:`~traffic_lam.replay.recorder`: one episode in sumo-gui, zoomed to the junctions, a screenshot per decision;
* :mod:`~traffic_lam.replay.frames`: the text panel drawn under each screenshot and the GIF;
* :mod:`~traffic_lam.replay.display`: Xvfb, started and stopped around a recording.
"""

from traffic_lam.replay.display import NoDisplayError
from traffic_lam.replay.frames import FrameInfo, SignalFrame, overlay, write_gif
from traffic_lam.replay.play import Replayed, record_clips, replay

__all__ = ["FrameInfo", "NoDisplayError", "Replayed", "SignalFrame", "overlay", "record_clips", "replay", "write_gif"]
