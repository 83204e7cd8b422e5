"""EC2 instance sizes, their normalization factors, and the smaller sizes of the same family.

AWS's size normalization factors: nano 0.25, micro 0.5, small 1, medium 2, large 4, xlarge 8, Nxlarge 8N.
Within a family, vCPUs and memory scale with the factor, so a size's capacity relative to another's is the
ratio of their factors.

Without a price list, the smaller sizes a family has come from its kind: burstable families (t2, t3, t4g...)
go down to nano, Graviton families (m6g, c7g, r8g...) and a1 to medium, the others to large; c4, c5 and m4
have their own odd sizes. Accelerated (g, p, inf, trn, dl, f, vt), high-memory (x, u), HPC and Mac families
are not resized from CPU and memory alone: they are left to people (an idle one is still reported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

FACTORS = {
    "nano": Fraction(1, 4),
    "micro": Fraction(1, 2),
    "small": Fraction(1),
    "medium": Fraction(2),
    "large": Fraction(4),
    "xlarge": Fraction(8),
}
_SIZE = re.compile(r"(?:(\d+)xlarge|nano|micro|small|medium|large|xlarge)")
_TYPE = re.compile(r"[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*\.[a-z0-9]+")
_GRAVITON = re.compile(r"[a-z]+\d+g[a-z]*")
_BURSTABLE = re.compile(r"t\d+[a-z]*")
NOT_RESIZED = re.compile(r"(g|p|inf|trn|dl|f|vt|x|u|hpc|mac)\d")
SMALL_TO_LARGE = ["nano", "micro", "small", "medium", "large", "xlarge"]
LARGER = ["2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge", "48xlarge"]
LADDERS = {
    "c4": ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge"],
    "c5": ["large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge"],
    "c5d": ["large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge"],
    "c5n": ["large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge"],
    "m4": ["large", "xlarge", "2xlarge", "4xlarge", "10xlarge", "16xlarge"],
}
# Found in a FOCUS charge description: "$0.34 per On Demand Linux c5.2xlarge Instance Hour"
_IN_DESCRIPTION = re.compile(
    r"\b([a-z][a-z0-9-]*\d[a-z0-9-]*\.(?:\d+xlarge|nano|micro|small|medium|large|xlarge))\b"
)


@dataclass(frozen=True)
class InstanceType:
    family: str
    size: str

    @property
    def name(self) -> str:
        return f"{self.family}.{self.size}"

    @property
    def factor(self) -> Fraction:
        return size_factor(self.size)


def size_factor(size: str) -> Fraction:
    found = _SIZE.fullmatch(size)
    if found is None:
        raise ValueError(f"{size!r} has no normalization factor")
    return Fraction(8 * int(found.group(1))) if found.group(1) else FACTORS[size]


def parse_type(name: str) -> InstanceType | None:
    """`m5.2xlarge` as family m5, size 2xlarge; None for anything without a normalization factor."""
    text = name.strip().lower()
    if _TYPE.fullmatch(text) is None:
        return None
    family, _, size = text.rpartition(".")
    if _SIZE.fullmatch(size) is None:
        return None
    return InstanceType(family, size)


def type_in_description(description: str | None) -> str | None:
    if not description:
        return None
    found = _IN_DESCRIPTION.search(description.lower())
    return found.group(1) if found else None


def resizable(instance: InstanceType) -> bool:
    base = instance.family.rsplit(".", 1)[-1]  # "db.r5" -> "r5"
    return NOT_RESIZED.match(base) is None


def smaller_sizes(instance: InstanceType) -> list[InstanceType]:
    """The family's sizes below this one, largest first."""
    base = instance.family.rsplit(".", 1)[-1]
    ladder = LADDERS.get(base)
    if ladder is None:
        if _BURSTABLE.fullmatch(base):
            smallest = "nano"
        elif _GRAVITON.fullmatch(base) or base == "a1":
            smallest = "medium"
        else:
            smallest = "large"
        ladder = SMALL_TO_LARGE[SMALL_TO_LARGE.index(smallest) :] + LARGER
    current = instance.factor
    below = [size for size in ladder if size_factor(size) < current]
    return [InstanceType(instance.family, size) for size in reversed(below)]
