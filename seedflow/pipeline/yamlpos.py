"""YAML loading that remembers where every node came from.

``load_yaml`` returns plain Python data plus a :class:`Positions` map from a node's path
(``("assets", "hero", "size")``) to its line and column, so any later check can point at the
exact place in the file. Duplicate keys are errors (YAML allows silently overwriting them, which
in a paid spec would hide a typo); a key written beside a ``<<: *anchor`` merge overrides the
merged one, as YAML's merge key defines.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import yaml

from seedflow.errors import Location, SpecError
from seedflow.limits import (
    MAX_INT,
    MAX_INT_DIGITS,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    has_lone_surrogate,
)
from seedflow.pipeline.syntax import reader_error, syntax_error

PathKey = tuple[str | int, ...]
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in (
    "map", "seq", "str", "int", "float", "bool", "null", "timestamp", "merge"))
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_INT = "tag:yaml.org,2002:int"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"
_STR = "tag:yaml.org,2002:str"
_Pair = tuple[Any, yaml.Node, yaml.Node]   # (key, its node, the value's node)


def _shorten(text: str, keep: int = 24) -> str:
    return text if len(text) <= keep else f"{text[:keep]}…"


def _location(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _shown_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


@dataclass
class Positions:
    """Where each node of a loaded document sits in its file."""

    file: str
    nodes: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: PathKey, *, key: bool = False) -> Location:
        """The location of ``path``, or of its nearest ancestor that has one."""
        table = self.keys if key else self.nodes
        probe = tuple(path)
        while probe:
            if probe in table:
                return Location(self.file, *table[probe])
            if probe in self.nodes:
                return Location(self.file, *self.nodes[probe])
            probe = probe[:-1]
        return Location(self.file, *self.nodes.get((), (1, 1)))


def load_yaml(text: str, file: str) -> tuple[Any, Positions]:
    """Parse one YAML document, keeping positions; syntax errors become SpecErrors in plain
    words (seedflow.pipeline.syntax), and so do documents past the limits (seedflow.limits):
    too deep, or too many values once every alias is expanded (checked while composing,
    before anything is expanded)."""
    positions = Positions(file)
    try:
        node = _compose(text, file)
    except yaml.MarkedYAMLError as exc:
        raise syntax_error(exc, file) from None
    except yaml.reader.ReaderError as exc:
        raise reader_error(exc, text, file) from None
    except yaml.YAMLError as exc:
        raise SpecError(Location(file, 1, 1), f"invalid YAML: {exc}") from None
    if node is None:
        return None, positions
    return _Builder(positions).build(node, ()), positions


def _compose(text: str, file: str) -> yaml.Node | None:
    loader = _BoundedLoader(text, file)  # reading starts here: a bad character fails at once
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader's composer, counting as it goes: the depth of the node being composed,
    and the values the document will have once built (an alias counts as every value of the
    node it names, each time it is used), so a document past MAX_YAML_DEPTH or MAX_YAML_NODES
    is refused at the place it crosses the limit, in time and memory proportional to its size.
    """

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self.file = file
        self.depth = 0
        self.total = 0
        self.weights: dict[int, int] = {}   # id(anchored node) → its values, built

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)  # an undefined alias: ComposerError
            weight = self.weights.get(id(node))
            if weight is None:
                raise self._refuse(event, f"the alias *{event.anchor} is used inside the node "
                                   "it names, so it never ends; remove the alias")
            self._count(event, weight, alias=True)
            return node
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            raise self._refuse(event, f"the document nests more than {MAX_YAML_DEPTH} levels "
                               "deep here; flatten it (a pipeline is a few levels of mappings "
                               "and lists)")
        start = self.total
        self._count(event, 1, alias=False)
        node = super().compose_node(parent, index)
        self.depth -= 1
        if event.anchor is not None:
            self.weights[id(node)] = self.total - start
        return node

    def _count(self, event: Any, weight: int, *, alias: bool) -> None:
        self.total += weight
        if self.total <= MAX_YAML_NODES:
            return
        if alias:
            raise self._refuse(event, f"aliases expand this document past {MAX_YAML_NODES:,} "
                               f"values (*{event.anchor} alone stands for {weight:,}); use "
                               "fewer aliases or write the values out")
        raise self._refuse(event, f"the document has more than {MAX_YAML_NODES:,} values; "
                           "split the pipeline into several files")

    def _refuse(self, event: Any, message: str) -> SpecError:
        mark = event.start_mark
        return SpecError(Location(self.file, mark.line + 1, mark.column + 1), message)


class _Builder:
    def __init__(self, positions: Positions) -> None:
        self.positions = positions
        self.constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.positions.nodes[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if node.tag not in _PLAIN_TAGS:
            tag = _shown_tag(node.tag)
            raise SpecError(self.positions.at(path), f"unsupported YAML tag {tag}: a pipeline "
                            "is plain YAML data; remove the tag")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if has_lone_surrogate(node.value):   # "\ud800" escapes to text no file or request holds
            raise SpecError(self.positions.at(path), "a \\ud800 to \\udfff escape is half of a "
                            "UTF-16 pair, not a character; write the character itself, or "
                            "escape it whole with eight hex digits (\\U0001F600 is 😀)")
        if node.tag == _TIMESTAMP:
            return node.value  # `2024-05-01` stays the text written, not a datetime
        try:
            if node.tag == _INT:
                return self._int(node, path)
            return self.constructor.construct_object(node, deep=True)
        except LookupError:  # PyYAML's constructors index into the text: `!!bool maybe`
            raise SpecError(self.positions.at(path), f"invalid YAML value: {node.value!r} is "
                            f"not a {_shown_tag(node.tag)} value; fix it or remove the "
                            "tag") from None
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SpecError(self.positions.at(path), f"invalid YAML value: {problem}") from None

    def _int(self, node: yaml.Node, path: PathKey) -> int:
        """A whole number within ±MAX_INT (its text is checked before it is converted)."""
        digits = len(node.value.lstrip("+-").replace("_", ""))
        value = None if digits > 2 * MAX_INT_DIGITS else self.constructor.construct_object(node)
        if not isinstance(value, int) or abs(value) > MAX_INT:
            size = digits if value is None else len(str(abs(value)))
            raise SpecError(self.positions.at(path), f"the whole number {_shorten(node.value)} "
                            f"has {size:,} digits, too many: whole numbers in a pipeline are "
                            f"at most {MAX_INT:,} (either sign); quote it if it is a label, "
                            "not a number")
        return value

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key, key_node, value_node in self._pairs(node, path):
            child: PathKey = (*path, key)
            self.positions.keys[child] = (key_node.start_mark.line + 1,
                                          key_node.start_mark.column + 1)
            result[key] = self.build(value_node, child)
        return result

    def _pairs(self, node: yaml.MappingNode, path: PathKey) -> list[_Pair]:
        """The mapping's entries as YAML's merge key defines them: the pairs of the mappings
        named by ``<<`` first (an earlier one wins), a key written in the mapping itself
        overrides a merged one in place, and a key written twice is an error."""
        merged: dict[Any, _Pair] = {}
        written: dict[Any, _Pair] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                for source in self._merge_sources(value_node, path):
                    for pair in self._pairs(source, path):
                        merged.setdefault(pair[0], pair)
                continue
            key = self._key(key_node, path)
            if key in written:
                raise SpecError(_location(self.positions.file, key_node), f"duplicate key "
                                f"{key!r}: each key may appear once in a mapping")
            written[key] = (key, key_node, value_node)
        return list({**merged, **written}.values())

    def _key(self, key_node: yaml.Node, path: PathKey) -> Hashable:
        if key_node.tag == _VALUE:
            key_node.tag = _STR  # `=` as a key is the text "=", as PyYAML reads it
        key = self.build(key_node, (*path, "<key>"))
        if not isinstance(key, Hashable) or isinstance(key, list | dict):
            raise SpecError(self.positions.at((*path, "<key>")),
                            "a mapping key must be a plain value")
        return key

    def _merge_sources(self, value: yaml.Node, path: PathKey) -> list[yaml.MappingNode]:
        if isinstance(value, yaml.MappingNode):
            return [value]
        if isinstance(value, yaml.SequenceNode) and all(
                isinstance(item, yaml.MappingNode) for item in value.value):
            return list(value.value)
        raise SpecError(_location(self.positions.file, value), "`<<` merges a mapping into "
                        "this one: write `<<: *anchor` or `<<: [*one, *two]` naming mappings")
