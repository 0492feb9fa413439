"""KwargsConfig: the base of a config dataclass that an env builds from its constructor kwargs, validated."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self


class KwargsConfig:
    """Base of a config dataclass built from an env's kwargs: `from_kwargs` refuses unknown keys (ValueError naming
    them and the known ones), lets the subclass `normalise` what it accepts loosely, then `validate`s. A subclass
    sets OWNER, the name its messages start with."""

    OWNER = "config"

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> Self:
        """Validate kwargs (unknown key or bad value -> ValueError naming the key) and build a config."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(kwargs) - names)
        if unknown:
            raise ValueError(f"{cls.OWNER}: unknown config key(s) {unknown}; expected some of {sorted(names)}")
        cfg = cls(**cls.normalise(kwargs))
        cfg.validate()
        return cfg

    @classmethod
    def normalise(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The known kwargs, converted to the types the fields hold (nothing to convert here)."""
        return kwargs

    def validate(self) -> None:
        """Raise ValueError naming the first bad field (nothing to check here)."""
