"""Change records: what a committed write changed, so each view reads again only that.

A job's commit returns one with each unit (the runner hands it on with the unit's progress
event); an edit in one workspace sends one to the others. Views merge the records that arrive
close together and read just the shots named, instead of every row on a timer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Changes:
    """What changed: shots (their frames, pictures or scores), frames, and personas (anything
    that colours all of a persona's verdicts: her references, looks or thresholds). `order`:
    shots were added, deleted or moved. `everything` says that no smaller record would be true
    (a migration, a restore)."""

    shots: frozenset[str] = frozenset()
    frames: frozenset[str] = frozenset()
    personas: frozenset[str] = frozenset()
    everything: bool = False
    order: bool = False  # shots came, went or moved: views list them again, reading only new ones

    @classmethod
    def of(
        cls,
        shots: Iterable[str] = (),
        frames: Iterable[str] = (),
        personas: Iterable[str] = (),
    ) -> Changes:
        """A record from any iterables of ids."""
        return cls(frozenset(shots), frozenset(frames), frozenset(personas))

    def __bool__(self) -> bool:
        return self.everything or self.order or bool(self.shots or self.frames or self.personas)

    def __or__(self, other: Changes | None) -> Changes:
        if other is None:
            return self
        return Changes(
            self.shots | other.shots,
            self.frames | other.frames,
            self.personas | other.personas,
            self.everything or other.everything,
            self.order or other.order,
        )

    def touches(self, shot_id: str, persona_ids: Iterable[str] = ()) -> bool:
        """Whether a shot (seen with these personas) may read differently now."""
        return (
            self.everything or shot_id in self.shots or any(p in self.personas for p in persona_ids)
        )


NOTHING = Changes()
