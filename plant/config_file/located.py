"""Read YAML keeping the line of every value, so each error names file:line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]
# libyaml's parser when PyYAML was built with it (the wheels are): a 5,000-tag file reads in
# a second or two rather than half a minute. Both keep each node's line.
STR = "tag:yaml.org,2002:str"
Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Located:
    """The plain data of a YAML document, and the line (1-based) of each path in it."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)


class FileError(ValueError):
    """The file is not YAML at all: one error, with its line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"{line}: {message}")
        self.line = line
        self.message = message


def load(text: str) -> tuple[Located, list[tuple[int, str]]]:
    """The document of `text` and the problems of its shape (duplicate or non-text keys).

    Raises FileError when `text` is not a YAML document.
    """
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        located = Located(None)
        problems: list[tuple[int, str]] = []
        located.data = _walk(loader, node, (), located, problems) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise FileError(line, f"not valid YAML: {error.problem or error}") from error
    except yaml.YAMLError as error:
        raise FileError(1, f"not valid YAML: {error}") from error
    finally:
        loader.dispose()
    return located, problems


def _walk(
    loader: yaml.SafeLoader, node: yaml.Node, path: Path, out: Located,
    problems: list[tuple[int, str]],
) -> Any:  # fmt: skip
    out.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                problems.append((line, f"the key {key!r} is not a name"))
                continue
            if key in mapping:
                problems.append((line, f"{key!r} is given twice"))
                continue
            mapping[key] = _walk(loader, value_node, (*path, key), out, problems)
            out.lines[(*path, key)] = line
        return mapping
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, (*path, i), out, problems) for i, item in enumerate(node.value)]
    if node.tag == STR:
        return node.value  # most values: no constructor needed
    construct = loader.yaml_constructors.get(node.tag)
    if construct is None or not isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node, deep=True)  # raises the loader's own error
    return construct(loader, node)
