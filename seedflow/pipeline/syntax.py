"""YAML syntax errors in plain words.

PyYAML reports what its scanner and parser expected (``expected <block end>, but found
'<block mapping start>'``); a person editing a pipeline needs what is wrong with the line and
what to do (``this line is indented differently from the lines above it``). Each rule below maps
one family of PyYAML messages to such a sentence, at the place to change (for a quote or bracket
that is never closed: where it opens). Anything no rule knows keeps the parser's own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from seedflow.errors import Location, SpecError


@dataclass(frozen=True)
class _Rule:
    problem: re.Pattern[str]   # matched against PyYAML's problem text
    context: str               # a part of PyYAML's context text ("" matches any)
    message: str               # str.format()ed with the pattern's groups, `line` and `column`
    at_opening: bool = False   # point at where the construct opens (the context mark)


def _rule(problem: str, context: str, message: str, *, at_opening: bool = False) -> _Rule:
    return _Rule(re.compile(problem), context, message, at_opening)


_FLOW_END = "the file ends inside the {what} `{sign}` that starts here; close it with `{end}`"
_FLOW = ("inside the {what} `{sign}` that starts at line {{line}}, column {{column}}, entries are "
         "separated by `,` and it ends with `{end}`; found {{found}} here instead (quote a text "
         "that contains `:`, `,`, `[`, `]`, `{{{{` or `}}}}`)")

_RULES = (
    _rule(r"found character '\\t' that cannot start any token", "",
          "a tab character: YAML indents with spaces only; replace the tab with spaces"),
    _rule(r"but found another document", "single document",
          "a second YAML document starts here (`---`); a pipeline is one document: remove this "
          "line and what follows, or move it to a file of its own"),
    _rule(r"found unexpected (end of stream|document separator)", "quoted scalar",
          "the quoted text that starts here is never closed; close it with the same quote "
          "(a quote inside it is written '' in '…' and \\\" in \"…\")", at_opening=True),
    _rule(r"could not find expected ':'", "simple key",
          "this line is neither `key: value` nor a list item (`- `) at its indentation: add the "
          "`:` after the key, indent it under the key above if it continues that value, or "
          "quote it", at_opening=True),
    _rule(r"^mapping values are not allowed here", "",
          "a `:` where no key can start: if this line is a key, indent it exactly like the keys "
          "above it; if the `:` is part of a text, quote the whole value (\"Photo: a mug\")"),
    _rule(r"^sequence entries are not allowed here", "",
          "a list item (`- `) where no list can start: put the items on their own lines, "
          "indented under their key, or write the list as [a, b]"),
    _rule(r"expected <block end>, but found", "block",
          "this line is indented differently from the lines above it: the keys of one mapping "
          "(and the `- ` items of one list) start in the same column, and a mapping and a list "
          "cannot share one level; fix its indentation (spaces only)"),
    _rule(r"expected ',' or '\}', but got '<stream end>'", "flow mapping",
          _FLOW_END.format(what="mapping", sign="{{", end="}}"), at_opening=True),
    _rule(r"expected ',' or '\]', but got '<stream end>'", "flow sequence",
          _FLOW_END.format(what="list", sign="[", end="]"), at_opening=True),
    _rule(r"expected ',' or '\}', but got (?P<found>.*)", "flow mapping",
          _FLOW.format(what="mapping", sign="{{", end="}}")),
    _rule(r"expected ',' or '\]', but got (?P<found>.*)", "flow sequence",
          _FLOW.format(what="list", sign="[", end="]")),
    _rule(r"expected the node content, but found (?P<found>.*)", "",
          "a value is missing here (found {found}): write the value, or quote a text that "
          "starts with a YAML sign such as `:`, `,`, `-`, `?`, `[` or `{{`"),
    _rule(r"expected '<document start>', but found", "",
          "this does not fit in the document: it comes after the document's end (`...`) or "
          "does not line up with anything above it; remove it or fix its indentation"),
    _rule(r"found unknown escape character ['\"](?P<char>.*)['\"]$", "double-quoted",
          "unknown escape `\\{char}` in a \"…\" text: write \\\\ for a backslash, or use '…' "
          "quotes, in which a backslash is an ordinary character"),
    _rule(r"", "block scalar",
          "after `|` or `>` only `-`, `+` or a digit 1-9 may follow on the same line (then a "
          "comment or the end of the line); start the text on the next line, indented"),
    _rule(r"^second occurrence", "duplicate anchor",
          "this anchor's name is already used at line {line}, column {column}; give each "
          "anchor its own name"),
    _rule(r"", "scanning an anchor",
          "an anchor name (`&name`) uses letters, digits, `-` and `_` only; rename it"),
    _rule(r"", "scanning an alias",
          "an alias (`*name`) uses letters, digits, `-` and `_` only; quote the text if `*` is "
          "meant as text"),
    _rule(r"^found undefined alias '?(?P<name>[^']*)'?", "",
          "the alias *{name} names no anchor: define `&{name}` on a value above it, or quote "
          "the text if `*` is meant as text"),
    _rule(r"", "scanning a tag",
          "`!` starts a YAML tag here, which a pipeline does not use; quote the text (\"!…\")"),
    _rule(r"^found character (?P<found>.*) that cannot start any token", "",
          "{found} cannot start a value in YAML (`@` and `` ` `` are reserved, `%` starts a "
          "directive, `|` and `>` a block text); quote the value (\"…\")"),
    _rule(r"expected URI|undefined tag handle|expected '>', but found", "",
          "`!` starts a YAML tag here, which a pipeline does not use; quote the text (\"!…\")"),
    _rule(r"^mapping keys are not allowed here", "",
          "a `? ` (an explicit key) where no key can start: quote the text if the `?` is part "
          "of it, or fix its indentation"),
    _rule(r"expected escape sequence of (?P<digits>\d+) hexadecimal numbers", "",
          "this escape needs {digits} hexadecimal digits (\\x41, \\u00e9, \\U0001F600): "
          "complete it, write \\\\ for a backslash, or use '…' quotes"),
    _rule(r"directive", "", "a `%` directive is malformed; a pipeline needs none: remove the "
          "line"),
    _rule(r"", "directive", "a `%` directive is malformed; a pipeline needs none: remove the "
          "line"),
)


def syntax_error(exc: yaml.MarkedYAMLError, file: str) -> SpecError:
    """The SpecError for a PyYAML scanner, parser or composer error, in plain words."""
    problem, context = exc.problem or "", exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    for rule in _RULES:
        found = rule.problem.search(problem)
        if found is None or rule.context not in context:
            continue
        opening = exc.context_mark or mark
        where = opening if rule.at_opening else mark
        message = rule.message.format(
            **{k: _words(v) if k == "found" else v for k, v in found.groupdict("").items()},
            line=opening.line + 1 if opening else "?",
            column=opening.column + 1 if opening else "?")
        return SpecError(_location(file, where), f"invalid YAML: {message}")
    words = exc.problem or exc.context or "the YAML syntax is broken"
    return SpecError(_location(file, mark), f"invalid YAML: {words}; fix the syntax at this place")


def reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> SpecError:
    """A character YAML does not allow in a file (a control character, a stray NUL)."""
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    char = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return SpecError(Location(file, line, column), f"invalid YAML: the character U+{char:04X} "
                     "is not allowed in a YAML file; remove it (inside a \"…\" text it can be "
                     f"written as the escape \\u{char:04x})")


_TOKENS = {"'<stream end>'": "the end of the file",
           "'<document end>'": "the document's end (`...`)",
           "'<document start>'": "a new document (`---`)", "'<scalar>'": "a value",
           "'<block mapping start>'": "a `key: value`", "'<block sequence start>'": "a `- ` item",
           "'<block end>'": "a line indented less", "'<alias>'": "an alias (`*name`)",
           "'<anchor>'": "an anchor (`&name`)", "'<tag>'": "a tag (`!name`)"}


def _words(found: str) -> str:
    """PyYAML's name for what it found, as a person would say it."""
    return _TOKENS.get(found, f"`{found.strip(chr(39))}`" if found.startswith("'") else found)


def _location(file: str, mark: yaml.Mark | None) -> Location | None:
    return Location(file, mark.line + 1, mark.column + 1) if mark else None
