"""Errors and the load report shared by every checkpoint format."""

import dataclasses
from typing import List


class CheckpointError(ValueError):
    """A checkpoint that cannot be read into the model; the message names the path/variable."""


@dataclasses.dataclass
class LoadReport:
    """What a load did, by Google variable name.

    Attributes:
        source: the path read.
        format: "google", "hf_safetensors" or "tfhub".
        loaded: names copied into the model.
        missing: names the model has but the checkpoint lacks (left at their initial values).
        unused: names the checkpoint has that nothing in the model took (optimizer slots and
            bookkeeping are not listed).
    """

    source: str
    format: str
    loaded: List[str] = dataclasses.field(default_factory=list)
    missing: List[str] = dataclasses.field(default_factory=list)
    unused: List[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.source} ({self.format}): loaded {len(self.loaded)} variables"
        if self.missing:
            text += f"; not in checkpoint (freshly initialised): {', '.join(self.missing)}"
        if self.unused:
            text += f"; unused from checkpoint: {', '.join(self.unused)}"
        return text
