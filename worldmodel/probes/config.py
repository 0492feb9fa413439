"""SuiteConfig: the knobs shared by every probe family (sizes, prompt, sweep density, seeds)."""

from __future__ import annotations

from collections.abc import Iterator, Sized
from dataclasses import dataclass

QUICK_SCENARIOS = 5  # quick mode builds at least this many scenarios per family (the CI's minimum)


@dataclass
class SuiteConfig:
    """Settings of one probe run; `quick` shrinks every sweep to a CI-sized smoke run."""

    seeds: int = 3
    """Worlds (scenarios) per sweep point."""
    seed: int = 0
    """Base seed of world choice, model sampling, shuffles and bootstrap."""
    quick: bool = False
    """Smallest sweeps (fewer sweep points; as many worlds as it takes to reach QUICK_SCENARIOS): for CI."""
    quick_scenarios: int = QUICK_SCENARIOS
    """Quick mode: worlds are added until a family has this many scenarios (the CIs need 5; tests may ask fewer)."""
    prompt_len: int = 12
    """Prompt frames given to the model (a pan across the view the probe returns to)."""
    context: int = 12
    """The model's context window in frames (family A sweeps gaps of 0.25x to 8x this)."""
    turn_rate: float = 10.0
    """Degrees per tick of scripted turns (a camera bin centre of the world model)."""
    height: int = 64
    """Frame height (the model's)."""
    width: int = 64
    """Frame width (the model's)."""
    fov_deg: float = 70.0
    """Vertical field of view of BlockWorld."""
    bootstrap: int = 1000
    """Bootstrap resamples for the confidence intervals."""

    def __post_init__(self) -> None:
        checks = {"seeds": self.seeds >= 1, "prompt_len": self.prompt_len >= 6, "context": self.context >= 1,
                  "turn_rate": 0 < self.turn_rate <= 45, "height": self.height >= 16, "width": self.width >= 16,
                  "bootstrap": self.bootstrap >= 10, "quick_scenarios": self.quick_scenarios >= 1}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid probe setting(s) {bad}: {self}")

    @property
    def n_seeds(self) -> int:
        """Worlds per sweep point (1 in quick mode)."""
        return 1 if self.quick else self.seeds

    def worlds(self, built: Sized) -> Iterator[int]:
        """World indices a family builds: `seeds` of them; in quick mode as many as it takes for `built` (the
        family's growing scenario list) to hold `quick_scenarios`, at most 4x that many worlds."""
        if not self.quick:
            yield from range(self.seeds)
            return
        i = 0
        while len(built) < self.quick_scenarios and i < 4 * self.quick_scenarios:
            yield i
            i += 1
