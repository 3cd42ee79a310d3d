"""How often greedy's choice depends on its memory rather than on the waves it sees.

Greedy (max-wave) shows the allowed green with the most vehicles in range; when several
allowed greens tie on a positive wave (two greens serving the same shared lanes always
do), it shows the one shown longest ago (:func:`traffic_lam.controllers.best_allowed`).
The ``wave`` observation does not show that memory; ``wave-staleness`` does. This script
drives one episode per map with greedy (RESCO protocol for ``resco:`` maps, SUMO seed 0),
reading the ``wave-staleness`` observation beside greedy's own, and counts the decisions
with such a tie, and those where greedy's choice differs from what the waves alone would
give (the lowest-index tied green). It also checks that greedy's every choice is the one
the ``wave-staleness`` observation determines.

Usage:
    python scripts/measure_greedy_ties.py --maps resco:cologne8 resco:grid4x4 single-intersection
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def measure(network: str, seed: int) -> dict[str, int]:
    """Decisions, positive ties and memory-decided choices of greedy over one episode."""
    import traffic_lam
    from traffic_lam.controllers.greedy import choice_from_wave_staleness
    from traffic_lam.imitation.experts import make_expert

    options = traffic_lam.resco_protocol(network) if network.startswith("resco:") else {}
    env = traffic_lam.make_env(network, observation="wave-staleness", expert_observation="wave", **options)
    expert = make_expert("greedy")
    expert.setup(env)
    counts = {"decisions": 0, "ties": 0, "memory": 0, "mismatches": 0}
    try:
        obs, infos = env.reset(seed=seed)
        expert.controller.reset()
        while env.agents:
            actions = expert.actions(obs, infos)
            for agent, action in actions.items():
                mask = np.asarray(infos[agent]["action_mask"])
                n, allowed = len(mask), np.flatnonzero(mask)
                wave = obs[agent][2 * n + 1 :]
                tied = allowed[wave[allowed] >= wave[allowed].max()]
                counts["decisions"] += 1
                if wave[allowed].max() > 0 and len(tied) > 1:
                    counts["ties"] += 1
                    counts["memory"] += int(action != tied[0])
                counts["mismatches"] += int(action != choice_from_wave_staleness(obs[agent], mask))
            obs, _, _, _, infos = env.step(actions)
    finally:
        env.close()
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", nargs="+", default=["resco:cologne8", "resco:grid4x4"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| map | decisions | positive ties | memory decides | not determined by wave-staleness |")
    print("|---|---|---|---|---|")
    for network in args.maps:
        c = measure(network, args.seed)
        share = 100.0 * c["memory"] / max(1, c["decisions"])
        print(f"| {network} | {c['decisions']} | {c['ties']} | {c['memory']} ({share:.1f} %) | {c['mismatches']} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
