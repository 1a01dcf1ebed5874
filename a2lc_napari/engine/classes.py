"""Class names, colours and the ignore value of a dataset.

They come from our ``classes.json`` (:meth:`ClassSet.read`), from the
built-in PASCAL VOC and Cityscapes sets, or from a CVAT "Segmentation mask
1.1" ``labelmap.txt`` (:func:`read_labelmap`), whose colours also code the
labels of colour-coded masks.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetError

#: Colour shown for ignore pixels: PASCAL VOC's boundary colour.
IGNORE_COLOR = (224, 224, 192)
#: The labelmap.txt entry whose colour codes ignore pixels, not a class.
IGNORE_NAME = "ignore"
#: Datumaro's name of VOC's ignore value 255, in :data:`IGNORE_COLOR`.
VOC_IGNORE_NAME = "ignored"
#: The labelmap.txt entry of unannotated pixels in CVAT's and datumaro's masks.
BACKGROUND_NAME = "background"
#: labelme's name of its background class (label id 0 of ``class_names.txt``).
LABELME_BACKGROUND_NAME = "_background_"
#: First line of a labelmap.txt, as CVAT writes it.
LABELMAP_HEADER = "# label:color_rgb:parts:actions"

Color = tuple[int, int, int]


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
        twice = sorted({n for n in self.names if self.names.count(n) > 1})
        if twice:  # other tools read classes by name: two would become one
            raise ValueError(f"class names must differ; {', '.join(map(repr, twice))} "
                             "names more than one class")
        if unnamed := [c for c, n in enumerate(self.names) if not n.strip()]:
            raise ValueError(f"class {unnamed[0]} has no name; every class needs one")
        shared = [c for c, rgb in enumerate(self.colors) if rgb in self.colors[:c]]
        if shared:  # colour-coded labels and exports tell classes apart by colour
            first = self.colors.index(self.colors[shared[0]])
            raise ValueError(f"classes {self.names[first]!r} and {self.names[shared[0]]!r} "
                             f"share the colour {list(self.colors[first])}; colours must "
                             "tell classes apart")
        if IGNORE_COLOR in self.colors:  # colour-coded labels and exports would merge them
            raise ValueError(f"class {self.names[self.colors.index(IGNORE_COLOR)]!r} has the "
                             f"colour {list(IGNORE_COLOR)}, which stands for the ignore value; "
                             "give it another colour")
        if len(self.names) > 255:
            raise ValueError(f"{len(self.names)} classes: at most 255 fit 8-bit labels "
                             "beside the ignore value")
        if not 0 <= self.ignore_index <= 255 or self.ignore_index < len(self.names):
            raise ValueError(
                f"ignore_index {self.ignore_index} must be in {len(self.names)}..255 "
                "(8-bit labels, not a class id)")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def name_of(self, value: int) -> str:
        """The class name of a label value; "ignore" for the ignore value."""
        return self.names[value] if 0 <= value < self.num_classes else IGNORE_NAME

    def palette(self) -> list[int]:
        """768 ints for ``PIL.Image.putpalette``: class colours, ignore colour, black."""
        pal = [0] * 768
        for c, rgb in enumerate(self.colors):
            pal[3 * c:3 * c + 3] = rgb
        i = self.ignore_index
        pal[3 * i:3 * i + 3] = IGNORE_COLOR
        return pal

    def colormap(self) -> dict[Color, int]:
        """Label value of each class colour, and of the ignore colour (as
        :meth:`palette` shows them): how colour-coded labels are read."""
        return {IGNORE_COLOR: self.ignore_index} | {rgb: c for c, rgb in enumerate(self.colors)}

    def to_json(self) -> dict:
        return {"names": list(self.names), "colors": [list(c) for c in self.colors],
                "ignore_index": self.ignore_index}

    @classmethod
    def from_json(cls, data: dict) -> "ClassSet":
        if not isinstance(data, dict):
            raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
        names = tuple(str(n) for n in data["names"])
        colors = data.get("colors") or default_colors(len(names))
        ignore = data.get("ignore_index", 255)
        if type(ignore) is not int:  # 255.7 or "255" would be read as some value, silently
            raise ValueError(f"ignore_index {ignore!r} is not a whole number")
        return cls(names, tuple(map(_color, colors)), ignore)

    @classmethod
    def read(cls, path: Path) -> "ClassSet":
        """Read ``classes.json``; raise :class:`DatasetError` naming the file."""
        try:
            # utf-8-sig: a byte-order mark, as some editors write, is not JSON
            return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8-sig")))
        except FileNotFoundError:
            raise DatasetError(path, "missing: a dataset folder needs classes.json") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DatasetError(path, f"does not parse as JSON ({e})") from None
        except KeyError as e:
            raise DatasetError(path, f"is not a valid class list: it has no {e} entry. "
                               'Expected {"names": [...], "colors": [[r,g,b], ...], '
                               '"ignore_index": 255}') from None
        except (TypeError, ValueError) as e:
            raise DatasetError(path, f"is not a valid class list: {e}. Expected "
                               '{"names": [...], "colors": [[r,g,b], ...], '
                               '"ignore_index": 255}') from None


def read_labelmap(path: Path) -> dict[str, Color]:
    """Read a CVAT / Datumaro ``labelmap.txt``: ``name:r,g,b:parts:actions`` lines.

    A labelmap with no colours at all (``name:::``, as datumaro's VOC export
    writes it) takes PASCAL VOC's colour map by position, as datumaro does,
    and ``ignored`` VOC's border colour.

    Parameters
    ----------
    path : Path
        The file; ``#`` lines and blank lines are skipped.

    Returns
    -------
    dict of str to (int, int, int)
        Colour of each name, in file order (an ``ignore`` entry included).

    Raises
    ------
    DatasetError
        Missing file, a line without a valid colour (where others have
        one), or a name or colour given twice.
    """
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise DatasetError(path, "missing: a colour-coded dataset needs labelmap.txt") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(path, f"cannot be read ({e})") from None
    entries = []  # (line number, line, name, colour text)
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            if ":" not in line:  # not a labelmap at all (datumaro's lines hold ':::')
                raise DatasetError(path, f"line {number} ({line.strip()!r}) is not a "
                                   "labelmap line; expected name:r,g,b:: (or name:::)")
            name, _, rest = line.partition(":")
            entries.append((number, line, name, rest.split(":")[0].strip()))
    if not any(color for *_, color in entries):  # datumaro's name::: lines
        defaults = default_colors(len(entries))
        entries = [(number, line, name, ",".join(map(str, IGNORE_COLOR if name ==
                                                      VOC_IGNORE_NAME else defaults[i])))
                   for i, (number, line, name, _) in enumerate(entries)]
    labelmap: dict[str, Color] = {}
    for number, line, name, text in entries:
        try:
            color = tuple(int(v) for v in text.split(","))
        except ValueError:
            color = ()
        if len(color) != 3 or not all(0 <= v <= 255 for v in color):
            raise DatasetError(path, f"line {number} ({line.strip()!r}) has no colour; "
                               "expected name:r,g,b:: with values 0-255")
        if name in labelmap:
            raise DatasetError(path, f"line {number} names {name!r} a second time")
        if color in labelmap.values():
            raise DatasetError(path, f"line {number} gives {name!r} the colour {color} "
                               "of another label; colours must tell labels apart")
        labelmap[name] = color
    if not set(labelmap) - {IGNORE_NAME, VOC_IGNORE_NAME}:
        raise DatasetError(path, "lists no labels")
    return labelmap


def labelme_classes(path: Path) -> ClassSet:
    """The classes of labelme2voc.py's ``class_names.txt``: a name per line,
    label id 0 first (its ``_background_``), in PASCAL VOC's colours by
    position, as labelme paints its label PNGs; raises
    :class:`DatasetError` naming the file."""
    try:
        names = tuple(line.strip() for line in Path(path).read_text().splitlines()
                      if line.strip())
        return ClassSet(names, tuple(default_colors(len(names))))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DatasetError(path, f"is not a list of class names, one per line ({e})"
                           ) from None


def background_class(classes: ClassSet) -> int | None:
    """The id of ``classes``' background class, named ``background`` or, as
    labelme names it, ``_background_``; None where there is none."""
    for name in (BACKGROUND_NAME, LABELME_BACKGROUND_NAME):
        if name in classes.names:
            return classes.names.index(name)
    return None


def labelmap_classes(labelmap: dict[str, Color], background_is_ignore: bool = False
                     ) -> ClassSet:
    """The classes of a labelmap: its entries in order, less ``ignore`` and
    ``ignored`` (and ``background`` when ``background_is_ignore``)."""
    skip = {IGNORE_NAME, VOC_IGNORE_NAME} | ({BACKGROUND_NAME} if background_is_ignore
                                             else set())
    names = tuple(n for n in labelmap if n not in skip)
    return ClassSet(names, tuple(labelmap[n] for n in names))


def labelmap_colormap(labelmap: dict[str, Color], classes: ClassSet, path: Path,
                      background_is_ignore: bool = False) -> dict[Color, int]:
    """Label value of each colour of ``labelmap``, its names read as ``classes``' names.

    ``background`` is the dataset's background class (labelme's
    ``_background_`` too: :func:`background_class`). ``ignore`` and
    ``ignored``, and ``background`` where the dataset has no background class
    (CVAT and datumaro paint unannotated pixels ``background:0,0,0``) or
    everywhere when ``background_is_ignore``, are the ignore value; so is VOC's border
    colour :data:`IGNORE_COLOR` where no entry has it.

    Raises
    ------
    DatasetError
        A name of ``labelmap`` (the file ``path``) is none of ``classes``.
    """
    background = background_class(classes)
    ids = ({BACKGROUND_NAME: classes.ignore_index if background is None else background}
           | {n: c for c, n in enumerate(classes.names)}
           | {IGNORE_NAME: classes.ignore_index, VOC_IGNORE_NAME: classes.ignore_index}
           | ({BACKGROUND_NAME: classes.ignore_index} if background_is_ignore else {}))
    unknown = [n for n in labelmap if n not in ids]
    if unknown:
        raise DatasetError(path, f"has labels {', '.join(map(repr, unknown))} that are not "
                           f"classes of the dataset ({', '.join(classes.names)})")
    return {IGNORE_COLOR: classes.ignore_index} | {color: ids[name]
                                                   for name, color in labelmap.items()}


def _color(value) -> Color:
    """A colour of ``classes.json``: [r, g, b] with values 0-255, or "#rrggbb"."""
    if isinstance(value, str):
        rgb = (tuple(int(value[i:i + 2], 16) for i in (1, 3, 5))
               if re.fullmatch(r"#[0-9a-fA-F]{6}", value) else ())
    else:
        try:
            rgb = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            rgb = ()
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f"colour {value!r} is not [r, g, b] with values 0-255, nor '#rrggbb'")
    return rgb


def check_labelmap_names(names, reserved=(IGNORE_NAME, VOC_IGNORE_NAME)) -> None:
    """Raise ValueError for a class name that ``labelmap.txt`` cannot hold:
    its fields are separated by ':', its entries by lines, a line that
    starts with '#' is a comment, and the ``reserved`` names (``ignore``,
    ``ignored``) stand for the ignore value."""
    for name in names:
        if ":" in name or "\n" in name or name.lstrip().startswith("#"):
            raise ValueError(f"class name {name!r} holds ':' or a line break, or starts "
                             "with '#', which labelmap.txt cannot hold; rename it in "
                             "classes.json")
        if name in reserved:
            raise ValueError(f"class name {name!r} is labelmap.txt's name of the ignore "
                             "value; rename the class in classes.json")


def labelmap_text(labelmap: dict[str, Color]) -> str:
    """``labelmap.txt`` of ``labelmap``'s names and colours, in its order
    (ValueError: a name it cannot hold, :func:`check_labelmap_names`)."""
    check_labelmap_names(labelmap, reserved=())  # its ignore entry, if any, included
    lines = [LABELMAP_HEADER]
    lines += [f"{n}:{','.join(map(str, c))}::" for n, c in labelmap.items()]
    return "\n".join(lines) + "\n"


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
