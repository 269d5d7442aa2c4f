"""The portal's item search language, as the REST "Search reference" documents it.

Search is full text, not exact match: a query is terms and phrases (``"fire maps"``),
optionally ``field:`` qualified (``title:"Site Survey"``, ``owner: jsmith``, with or
without a space after the colon), joined by ``AND`` / ``OR`` / ``NOT`` (and ``+``/``-``
prefixes) and grouped with parentheses. Two unjoined terms both have to match
(``map services`` finds items with both words). Unqualified terms search the default
fields: title, tags, snippet, description, type and typeKeywords. Text fields are
broken into lower-case words, with a light plural stemming (``maps`` finds ``map``), and
a trailing ``*`` matches a prefix; so ``title:"Site"`` also finds "Site Survey 2". Keyword
fields (``id``, ``owner``, ``orgid``, ``group``, ``access``) match whole values.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Tuple

TEXT_FIELDS = ("title", "tags", "snippet", "description", "type", "typekeywords", "name", "accessinformation",
               "licenseinfo", "culture")
DEFAULT_FIELDS = ("title", "tags", "snippet", "description", "type", "typekeywords")
KEYWORD_FIELDS = ("id", "owner", "orgid", "group", "access", "ownerfolder")
_TOKEN = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|([^\s()"]+))')
Doc = Dict[str, Any]
Test = Callable[[Doc], bool]


class SearchSyntaxError(ValueError):
    """A query the search engine cannot parse (answered as a 400)."""


def words(text: Any) -> List[str]:
    if isinstance(text, (list, tuple)):
        out: List[str] = []
        for value in text:
            out.extend(words(value))
        return out
    return [_stem(w) for w in re.findall(r"[\w*]+", str(text or "").lower())]


def _stem(word: str) -> str:
    if word.endswith("*"):
        return word
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _phrase_in(phrase: List[str], field_words: List[str]) -> bool:
    if not phrase:
        return True
    for start in range(len(field_words) - len(phrase) + 1):
        if all(_word_matches(p, field_words[start + i]) for i, p in enumerate(phrase)):
            return True
    return False


def _word_matches(pattern: str, word: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return word.startswith(pattern[:-1])
    return pattern == word


def _lex(query: str) -> List[Tuple[str, str]]:
    tokens: List[Tuple[str, str]] = []
    pos = 0
    while pos < len(query):
        match = _TOKEN.match(query, pos)
        if not match or match.end() == pos:
            break
        pos = match.end()
        if match.group(1):
            tokens.append(("(", "("))
        elif match.group(2):
            tokens.append((")", ")"))
        elif match.group(3):
            tokens.append(("phrase", match.group(3)[1:-1].replace('\\"', '"')))
        elif match.group(4):
            word = match.group(4)
            if word in ("AND", "&&"):
                tokens.append(("and", word))
            elif word in ("OR", "||"):
                tokens.append(("or", word))
            elif word in ("NOT", "!"):
                tokens.append(("not", word))
            else:
                tokens.append(("word", word))
    return tokens


class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = _lex(query)
        self.pos = 0

    def peek(self) -> Optional[Tuple[str, str]]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def parse(self) -> Test:
        if not self.tokens:
            return lambda doc: True
        test = self.disjunction()
        if self.peek() is not None:
            raise SearchSyntaxError("Unbalanced parentheses in the query.")
        return test

    def disjunction(self) -> Test:
        parts = [self.conjunction()]
        while self.peek() and self.peek()[0] == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda doc: any(p(doc) for p in parts))

    def conjunction(self) -> Test:
        parts = [self.unary()]
        while self.peek() and self.peek()[0] not in ("or", ")"):
            if self.peek()[0] == "and":
                self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def unary(self) -> Test:
        token = self.peek()
        if token is None:
            raise SearchSyntaxError("The query ends with an operator.")
        if token[0] == "not":
            self.take()
            inner = self.unary()
            return lambda doc: not inner(doc)
        if token[0] == "word" and token[1][:1] in "+-" and len(token[1]) > 1:
            self.tokens[self.pos] = ("word", token[1][1:])
            inner = self.unary()
            return inner if token[1][0] == "+" else (lambda doc: not inner(doc))
        return self.primary()

    def primary(self) -> Test:
        kind, text = self.take()
        if kind == "(":
            inner = self.disjunction()
            if not self.peek() or self.take()[0] != ")":
                raise SearchSyntaxError("Unbalanced parentheses in the query.")
            return inner
        if kind == "phrase":
            return _clause(None, text, True)
        if kind != "word":
            raise SearchSyntaxError(f"Unexpected {text!r} in the query.")
        field, colon, value = text.partition(":")
        if not colon or not re.fullmatch(r"\w+", field):
            return _clause(None, text, False)
        field = field.lower()
        if value:
            return _clause(field, value, False)
        nxt = self.peek()  # "field: value" or "field: "phrase"" or "field:(a OR b)"
        if nxt is None:
            raise SearchSyntaxError(f"Nothing to search for in field {field}.")
        if nxt[0] == "(":
            self.take()
            values: List[Test] = []
            while self.peek() and self.peek()[0] != ")":
                k, v = self.take()
                if k in ("word", "phrase"):
                    values.append(_clause(field, v, k == "phrase"))
            if self.peek():
                self.take()
            return lambda doc: any(v(doc) for v in values)
        k, v = self.take()
        if k not in ("word", "phrase"):
            raise SearchSyntaxError(f"Nothing to search for in field {field}.")
        return _clause(field, v, k == "phrase")


def _clause(field: Optional[str], value: str, phrase: bool) -> Test:
    if field in KEYWORD_FIELDS:
        wanted = value if field == "owner" else value.lower()

        def keyword(doc: Doc) -> bool:
            have = doc.get(field)
            values = have if isinstance(have, (list, tuple, set)) else [have]
            if field == "owner":
                return any(str(v) == wanted for v in values if v is not None)
            return any(str(v).lower() == wanted or (wanted.endswith("*") and str(v).lower().startswith(wanted[:-1]))
                       for v in values if v is not None)
        return keyword
    fields = DEFAULT_FIELDS if field is None else (field,)
    pattern = words(value)

    def text(doc: Doc) -> bool:
        for name in fields:
            if name not in TEXT_FIELDS:
                return False  # an unknown field matches nothing, as in ArcGIS
            have = words(doc.get(name))
            if phrase or len(pattern) > 1:
                if _phrase_in(pattern, have):
                    return True
            elif pattern and any(_word_matches(pattern[0], w) for w in have):
                return True
        return False
    return text


def compile_query(query: str) -> Test:
    """``test(doc)`` for a search query; *doc* maps lower-case field names to values."""
    return _Parser(query or "").parse()
