"""Class names, colours and the ignore value of a dataset."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetError

#: Colour shown for ignore pixels: PASCAL VOC's boundary colour.
IGNORE_COLOR = (224, 224, 192)


@dataclass(frozen=True)
class ClassSet:
    """The classes of a dataset.

    Parameters
    ----------
    names : tuple of str
        Class names; class id ``c`` is ``names[c]``.
    colors : tuple of (int, int, int)
        One RGB colour per class, 0-255.
    ignore_index : int
        Label value meaning "unlabeled / don't care" (0-255, not a class id).
    """

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    ignore_index: int = 255

    def __post_init__(self):
        if not self.names:
            raise ValueError("a dataset needs at least one class")
        if len(self.colors) != len(self.names):
            raise ValueError(
                f"{len(self.names)} class names but {len(self.colors)} colours")
        if not 0 <= self.ignore_index <= 255 or self.ignore_index < len(self.names):
            raise ValueError(
                f"ignore_index {self.ignore_index} must be in {len(self.names)}..255 "
                "(8-bit labels, not a class id)")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def name_of(self, value: int) -> str:
        """The class name of a label value; "ignore" for the ignore value."""
        return self.names[value] if 0 <= value < self.num_classes else "ignore"

    def palette(self) -> list[int]:
        """768 ints for ``PIL.Image.putpalette``: class colours, ignore colour, black."""
        pal = [0] * 768
        for c, rgb in enumerate(self.colors):
            pal[3 * c:3 * c + 3] = rgb
        i = self.ignore_index
        pal[3 * i:3 * i + 3] = IGNORE_COLOR
        return pal

    def to_json(self) -> dict:
        return {"names": list(self.names), "colors": [list(c) for c in self.colors],
                "ignore_index": self.ignore_index}

    @classmethod
    def from_json(cls, data: dict) -> "ClassSet":
        names = tuple(str(n) for n in data["names"])
        colors = data.get("colors") or default_colors(len(names))
        colors = tuple(tuple(int(v) for v in rgb) for rgb in colors)
        if any(len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb) for rgb in colors):
            raise ValueError("every colour must be [r, g, b] with values 0-255")
        return cls(names, colors, int(data.get("ignore_index", 255)))

    @classmethod
    def read(cls, path: Path) -> "ClassSet":
        """Read ``classes.json``; raise :class:`DatasetError` naming the file."""
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise DatasetError(path, "missing: a dataset folder needs classes.json") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DatasetError(path, f"does not parse as JSON ({e})") from None
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(path, f"is not a valid class list: {e!r}. Expected "
                               '{"names": [...], "colors": [[r,g,b], ...], '
                               '"ignore_index": 255}') from None


def default_colors(n: int) -> list[tuple[int, int, int]]:
    """PASCAL VOC's colour map: distinct colours for ``n`` classes."""
    colors = []
    for c in range(n):
        r = g = b = 0
        cid = c
        for shift in range(7, -1, -1):
            r |= ((cid >> 0) & 1) << shift
            g |= ((cid >> 1) & 1) << shift
            b |= ((cid >> 2) & 1) << shift
            cid >>= 3
        colors.append((r, g, b))
    return colors


VOC_CLASSES = ClassSet(
    names=("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus",
           "car", "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike",
           "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"),
    colors=tuple(default_colors(21)),
    ignore_index=255,
)

CITYSCAPES_CLASSES = ClassSet(
    names=("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
           "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
           "truck", "bus", "train", "motorcycle", "bicycle"),
    colors=((128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156),
            (190, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0),
            (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
            (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100),
            (0, 0, 230), (119, 11, 32)),
    ignore_index=255,
)
