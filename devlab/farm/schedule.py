"""The order a device runs its steps in: every (variant, accelerator) once per round, shuffled per round with a
seeded generator, rounds one after another, so slow drift (heat, background jobs) spreads over all variants
instead of punishing whichever ran last."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    index: int
    round: int
    variant: str
    accelerator: str


def interleaved_steps(variants: list[str], accelerators: list[str], rounds: int, seed: int) -> list[Step]:
    pairs = [(v, a) for v in variants for a in accelerators]
    rng = random.Random(seed)
    steps: list[Step] = []
    for round_index in range(rounds):
        order = pairs[:]
        rng.shuffle(order)
        steps += [Step(len(steps) + i, round_index, v, a) for i, (v, a) in enumerate(order)]
    return steps
