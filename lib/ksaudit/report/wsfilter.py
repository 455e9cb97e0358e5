"""Wireshark display filters for the common cases, compiled to a boolean mask on the
packet table (or the leak table): ``ip.addr == 203.0.113.80 && udp.port == 53``,
``leak and not dns``, ``episode == 1 || frame.len > 1000``.

A tokenizer and a recursive-descent parser; nothing the analyst types is evaluated.
The language:

- fields: ``ip.src ip.dst ip.addr`` (IPv4), ``ipv6.src ipv6.dst ipv6.addr``,
  ``udp.port udp.srcport udp.dstport``, the same for ``tcp``, ``frame.len``,
  ``frame.number``, ``frame.cap_len``, and every column of the table by its name
  (``dport``, ``iface``, ``episode``, ...);
- protocols alone: ``ip ipv6 udp tcp icmp icmpv6 arp dns`` (dns = TCP or UDP port 53),
  any rule name alone (``leak`` = ``rule == "leak"``), a field alone (it is present);
- ``== != < > <= >=`` (or ``eq ne lt gt le ge``), ``in {53 853}``;
  ``and &&``, ``or ||``, ``not !``, parentheses; ``and`` binds tighter than ``or``;
- values: numbers, quoted text, and for address fields bare addresses or networks
  (``ip.dst == 10.0.0.0/8``).

As in Wireshark 4, a test on a field the frame lacks is false (``ip.src != 10.0.0.1``
holds for IPv4 frames only), ``!=`` means no occurrence is equal (``ip.addr != X``:
neither address is X) and the other relations hold when any occurrence does.
"""

import difflib
import ipaddress
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ksaudit.errors import KsauditError
from ksaudit.leaks.classify import RULES

RELATIONS = {"==": "==", "eq": "==", "!=": "!=", "ne": "!=", "<": "<", "lt": "<",
             ">": ">", "gt": ">", "<=": "<=", "le": "<=", ">=": ">=", "ge": ">="}
AND, OR, NOT = {"and", "&&"}, {"or", "||"}, {"not", "!"}
PROTOCOLS = {"ip": ("ip_version", 4), "ipv6": ("ip_version", 6), "udp": ("proto", 17),
             "tcp": ("proto", 6), "icmp": ("proto", 1), "icmpv6": ("proto", 58)}
DNS_PORT = 53
ABSENT = {"episode": 0}   # a column alone is true where it is not this (default -1, "")
MAX_DEPTH = 100           # nested parentheses and nots (deeper hit Python's recursion limit)
_TOKEN = re.compile(r"""\s*(?:(?P<op>==|!=|<=|>=|&&|\|\||[<>!(){}=,\[\]])
                         |(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
                         |(?P<word>-?[A-Za-z0-9_.:/]+)
                         |(?P<bad>\S))""", re.X)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class Field:
    """A Wireshark field: the table columns it reads and what the frame must be."""
    columns: tuple
    kind: str            # "address4", "address6", "number"
    proto: int | None = None


FIELDS = {
    "ip.src": Field(("src",), "address4"), "ip.dst": Field(("dst",), "address4"),
    "ip.addr": Field(("src", "dst"), "address4"),
    "ipv6.src": Field(("src",), "address6"), "ipv6.dst": Field(("dst",), "address6"),
    "ipv6.addr": Field(("src", "dst"), "address6"),
    "udp.port": Field(("sport", "dport"), "number", 17),
    "udp.srcport": Field(("sport",), "number", 17), "udp.dstport": Field(("dport",), "number", 17),
    "tcp.port": Field(("sport", "dport"), "number", 6),
    "tcp.srcport": Field(("sport",), "number", 6), "tcp.dstport": Field(("dport",), "number", 6),
    "frame.len": Field(("length",), "number"), "frame.number": Field(("frame",), "number"),
    "frame.cap_len": Field(("caplen",), "number"),
}


class FilterError(KsauditError):
    """The filter text does not parse, or names a field the table does not have."""


@dataclass(frozen=True)
class Token:
    kind: str     # "op", "str", "word", "end"
    text: str
    pos: int


def tokenize(text):
    """The tokens of `text`; an unknown character is a FilterError naming its position."""
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:   # only trailing blanks are left
            break
        kind = m.lastgroup
        start = m.start(kind)
        if kind == "bad":
            raise FilterError(f"at {start + 1}: unexpected {m.group(kind)!r}")
        tokens.append(Token(kind, m.group(kind), start))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def mask(text, table):
    """The boolean mask (numpy array, one per row) of `table`'s rows matching `text`.

    Parameters
    ----------
    text : str
        A filter in the language above ("" matches every row).
    table : pandas.DataFrame
        The packet table (ksaudit.read_packets, Analysis.packets) or a leak table
        (the analysis document's ``leaks.rows``); fields read the columns it has.

    Returns
    -------
    numpy.ndarray of bool

    Raises
    ------
    FilterError
        With the position and what to write instead (e.g. quote an address compared
        with a column, the known fields for an unknown one).
    """
    if not text.strip():
        return np.ones(len(table), dtype=bool)
    return _Parser(tokenize(text), table).parse()


def known_names(table):
    """(Wireshark fields, table columns, rule names) the filter knows for `table`."""
    rules = list(RULES)
    if "rule" in table.columns:
        rules += [str(r) for r in pd.unique(table["rule"].astype(str)) if str(r) not in rules]
    return (sorted(FIELDS) + sorted(PROTOCOLS) + ["arp", "dns"], list(table.columns), rules)


class _Parser:
    """Recursive descent over the tokens: or -> and -> not -> primary -> test."""

    def __init__(self, tokens, table):
        self.tokens, self.i, self.table, self.depth = tokens, 0, table, 0

    @property
    def tok(self):
        return self.tokens[self.i]

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message, tok=None):
        tok = tok or self.tok
        return FilterError(f"at {tok.pos + 1}: {message}")

    def is_op(self, words):
        return self.tok.kind in ("op", "word") and self.tok.text.lower() in words

    def parse(self):
        result = self.or_()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r}; join tests with and / or")
        return result

    def or_(self):
        result = self.and_()
        while self.is_op(OR):
            self.take()
            result = result | self.and_()
        return result

    def and_(self):
        result = self.not_()
        while self.is_op(AND):
            self.take()
            result = result & self.not_()
        return result

    def not_(self):
        if self.is_op(NOT):
            self.deeper()
            self.take()
            result = ~self.not_()
            self.depth -= 1
            return result
        return self.primary()

    def primary(self):
        if self.tok.text == "(" and self.tok.kind == "op":
            self.deeper()
            self.take()
            result = self.or_()
            if self.tok.text != ")":
                raise self.error("missing ')'")
            self.take()
            self.depth -= 1
            return result
        if self.tok.kind != "word" or not _NAME.match(self.tok.text):
            what = "the end of the filter" if self.tok.kind == "end" else repr(self.tok.text)
            raise self.error(f"expected a field, protocol or rule name, found {what}")
        return self.test(self.take())

    def deeper(self):
        """One level more of parentheses or not; past MAX_DEPTH a FilterError (the
        recursive descent would otherwise end in a RecursionError)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} deep (parentheses and not)")

    def test(self, name):
        if self.tok.kind == "op" and self.tok.text == "=":
            raise self.error(f"'=' is not a comparison; write {name.text} == ...")
        if self.is_op(RELATIONS):
            rel = RELATIONS[self.take().text.lower()]
            return self.compare(name, rel, [self.value()])
        if self.is_op({"in"}):
            self.take()
            return self.compare(name, "==", self.value_set())
        return self.alone(name)

    def value(self):
        tok = self.take()
        if tok.kind in ("str", "word"):
            return tok
        what = "the end of the filter" if tok.kind == "end" else repr(tok.text)
        raise self.error(f"expected a value, found {what}", tok)

    def value_set(self):
        if self.tok.text != "{":
            raise self.error("write a set as {53 853}")
        self.take()
        values = []
        while self.tok.text != "}":
            if self.tok.kind == "end":
                raise self.error("missing '}'")
            if self.tok.text != ",":
                values.append(self.value())
            else:
                self.take()
        self.take()
        if not values:
            raise self.error("an empty set matches nothing; give at least one value")
        return values

    # ---------------------------------------------------------------- meaning

    def alone(self, name):
        """A name without a relation: a protocol, a rule, or a field that is present."""
        word, table = name.text, self.table
        if word.lower() in PROTOCOLS:
            column, value = PROTOCOLS[word.lower()]
            if column == "ip_version":
                return self.present(FIELDS[f"{word.lower()}.src"], name)
            return self.column(column, name) == value
        if word.lower() == "dns":
            udp_tcp = np.isin(self.column("proto", name), (6, 17))
            return udp_tcp & ((self.column("sport", name) == DNS_PORT)
                              | (self.column("dport", name) == DNS_PORT))
        if word.lower() == "arp" and "arp" in table:
            return self.column("arp", name).astype(bool)
        if word in FIELDS:
            return self.present(FIELDS[word], name)
        if word in table.columns:
            values = table[word]
            if values.dtype == bool:
                return values.to_numpy()
            if _is_numeric(values):
                return _values(values) != ABSENT.get(word, -1)
            return _text(values) != ""
        if word in known_names(table)[2]:
            return _text(self.table[self.need("rule", name)]) == word
        raise self.unknown(name)

    def compare(self, name, rel, values):
        word = name.text
        if word in FIELDS:
            field = FIELDS[word]
            columns = [self.column(c, name) for c in field.columns]
            test = self.address_test if field.kind.startswith("address") else self.number_test
            hits = [test(col, rel, values, field) for col in columns]
            joined = np.logical_and.reduce(hits) if rel == "!=" else np.logical_or.reduce(hits)
            return joined & self.present(field, name)
        if word in self.table.columns:
            values_col = self.table[word]
            if values_col.dtype != bool and not _is_numeric(values_col):
                return self.text_test(word, values_col, rel, values)
            return self.number_test(_values(values_col), rel, values, None)
        raise self.unknown(name)

    def present(self, field, name):
        """Where the frame has the field: its IP version (an ARP frame's addresses are
        not ip.src), its transport protocol; frame fields are always there."""
        if field.kind.startswith("address"):
            version = 4 if field.kind == "address4" else 6
            if "ip_version" in self.table.columns:
                return self.column("ip_version", name) == version
            return _per_value(self.table[self.need(field.columns[0], name)],   # a leak table
                              lambda v: _version(v) == version)
        if field.proto is not None:
            return self.column("proto", name) == field.proto
        return np.ones(len(self.table), dtype=bool)

    def address_test(self, column_values, rel, values, field):
        if rel not in ("==", "!="):
            raise self.error(f"addresses compare with == or != only, not {rel}", values[0])
        version = 4 if field.kind == "address4" else 6
        nets = [self.network(v, version) for v in values]
        hit = _per_value(column_values, lambda v: _in_networks(v, nets))
        return ~hit if rel == "!=" else hit

    def network(self, tok, version):
        try:
            net = ipaddress.ip_network(tok.text, strict=False)
        except ValueError:
            net = None
        if net is None or net.version != version:
            kind = "an IPv4" if version == 4 else "an IPv6"
            hint = " (use ipv6.* fields for IPv6)" if net is not None and version == 4 else \
                " (use ip.* fields for IPv4)" if net is not None else ""
            raise self.error(f"{tok.text!r} is not {kind} address or network{hint}", tok)
        return net

    def number_test(self, column_values, rel, values, field):
        nums = [self.number(v) for v in values]
        arr = column_values if isinstance(column_values, np.ndarray) else _values(column_values)
        if rel == "==":
            return np.isin(arr, nums)
        if rel == "!=":
            return ~np.isin(arr, nums)
        op = {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}[rel]
        return op(arr, nums[0])

    def number(self, tok):
        text = tok.text
        if tok.kind == "word":
            try:
                return int(text, 0)
            except ValueError:
                try:
                    return float(text)
                except ValueError:
                    pass
        raise self.error(f"expected a number, found {text!r}", tok)

    def text_test(self, word, column_values, rel, values):
        if rel not in ("==", "!="):
            raise self.error(f"the text column {word} compares with == or != only, not {rel}",
                             values[0])
        wanted = []
        for tok in values:
            if tok.kind != "str":
                raise self.error(self.quote_hint(word, rel, tok), tok)
            wanted.append(_unquote(tok.text))
        hit = np.isin(_text(column_values), wanted)
        return ~hit if rel == "!=" else hit

    def quote_hint(self, word, rel, tok):
        hint = f'quote the {{}}: {word} {rel} "{tok.text}"'
        try:
            version = ipaddress.ip_network(tok.text, strict=False).version
        except ValueError:
            return hint.format("text")
        wire = {("src", 4): "ip.src", ("dst", 4): "ip.dst", ("src", 6): "ipv6.src",
                ("dst", 6): "ipv6.dst"}.get((word, version))
        hint = hint.format("address")
        return hint + (f", or write {wire} {rel} {tok.text}" if wire else "")

    def column(self, column, name):
        return _values(self.table[self.need(column, name)])

    def need(self, column, name):
        if column not in self.table.columns:
            raise self.error(f"{name.text} needs the column {column!r}, which this table "
                             "does not have", name)
        return column

    def unknown(self, name):
        fields, columns, rules = known_names(self.table)
        close = difflib.get_close_matches(name.text, fields + columns + rules, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return self.error(f"unknown field {name.text!r}; {hint}fields: {' '.join(fields)}; "
                          f"columns: {' '.join(columns)}; rules: {' '.join(rules)}", name)


def _is_numeric(values):
    return pd.api.types.is_numeric_dtype(values.dtype) and values.dtype != bool


def _values(values):
    return values.to_numpy()


def _text(values):
    return values.astype(str).to_numpy()


def _unquote(text):
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _per_value(values, predicate):
    """predicate over each distinct value (addresses repeat: few distinct, many rows)."""
    codes, uniques = pd.factorize(values)
    hit = np.array([bool(predicate(str(u))) for u in uniques] + [False], dtype=bool)
    return hit[codes]   # code -1 (missing) reads the trailing False


def _version(text):
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return None


def _in_networks(text, nets):
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in nets)
