"""A small parser for the Alloy configuration syntax, enough to check charts/observability/alloy-values.yaml offline:
no `alloy` binary installs here (PyPI, npm and Debian checked), so `alloy fmt` cannot run in the tests.

Blocks (`name.sub "label" { ... }`), attributes (`key = value`), strings, objects, lists and references; any other
expression (a function call, `+`) is kept as its source text. Unbalanced braces or a stray token raise."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

TOKEN = re.compile(r'//[^\n]*|"(?:\\.|[^"\\])*"|\n|[{}\[\]=,()+]|[A-Za-z0-9_.\-]+|[ \t\r]+')


@dataclass
class Block:
    name: str
    label: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def children(self, name: str) -> list[Block]:
        return [block for block in self.blocks if block.name == name]

    def child(self, name: str, label: str | None = None) -> Block:
        found = [block for block in self.children(name) if label is None or block.label == label]
        assert len(found) == 1, f"expected one {name} {label or ''} in {self.name}, found {len(found)}"
        return found[0]


@dataclass(frozen=True)
class Expression:
    """A reference (`loki.write.loki.receiver`) or any other expression, as written."""

    text: str


def tokenize(source: str) -> list[str]:
    tokens, position = [], 0
    while position < len(source):
        match = TOKEN.match(source, position)
        if not match:
            raise ValueError(f"unexpected character {source[position]!r} at offset {position}")
        text = match.group()
        if not text.startswith("//") and text.strip(" \t\r"):
            tokens.append(text)
        position = match.end()
    return tokens


class Parser:
    def __init__(self, source: str) -> None:
        self.tokens = tokenize(source)
        self.at = 0

    def peek(self, offset: int = 0) -> str | None:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"expected {expected or 'a token'}, found {token!r} (token {self.at})")
        self.at += 1
        return token

    def skip_newlines(self) -> None:
        while self.peek() == "\n":
            self.at += 1

    def body(self, into: Block, closing: str | None) -> Block:
        while True:
            self.skip_newlines()
            token = self.peek()
            if token == closing:
                if closing is not None:
                    self.take(closing)
                return into
            name = self.take()
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
                raise ValueError(f"expected a block or attribute name, found {name!r}")
            if self.peek() == "=":
                self.take("=")
                if name in into.attributes:
                    raise ValueError(f"attribute {name} set twice in {into.name}")
                into.attributes[name] = self.expression()
                if self.peek() not in ("\n", "}", None):
                    raise ValueError(f"unexpected {self.peek()!r} after attribute {name}")
                continue
            label = json.loads(self.take()) if (self.peek() or "").startswith('"') else None
            self.take("{")
            into.blocks.append(self.body(Block(name, label), "}"))

    def expression(self) -> Any:
        value = self.primary()
        while self.peek() == "+":
            self.take("+")
            value = Expression(f"{source(value)} + {source(self.primary())}")
        return value

    def primary(self) -> Any:
        token = self.take()
        if token.startswith('"'):
            return json.loads(token)
        if token == "{":
            items: dict[str, Any] = {}
            while True:
                self.skip_newlines()
                if self.peek() == "}":
                    self.take("}")
                    return items
                key = self.take()
                key = json.loads(key) if key.startswith('"') else key
                self.take("=")
                items[key] = self.expression()
                self.skip_newlines()
                if self.peek() == ",":
                    self.take(",")
        if token == "[":
            elements: list[Any] = []
            while True:
                self.skip_newlines()
                if self.peek() == "]":
                    self.take("]")
                    return elements
                elements.append(self.expression())
                self.skip_newlines()
                if self.peek() == ",":
                    self.take(",")
        if token in ("true", "false"):
            return token == "true"
        if re.fullmatch(r"-?[0-9][0-9.]*", token):
            return float(token) if "." in token else int(token)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", token):
            if self.peek() == "(":
                self.take("(")
                arguments = []
                while self.peek() != ")":
                    arguments.append(source(self.expression()))
                    if self.peek() == ",":
                        self.take(",")
                self.take(")")
                return Expression(f"{token}({', '.join(arguments)})")
            return Expression(token)
        raise ValueError(f"unexpected {token!r} in an expression")


def source(value: Any) -> str:
    """An expression's value written back as Alloy source."""
    return value.text if isinstance(value, Expression) else json.dumps(value)


def parse(text: str) -> Block:
    """The whole configuration as one root block whose children are the components."""
    return Parser(text).body(Block("<root>", None), None)
