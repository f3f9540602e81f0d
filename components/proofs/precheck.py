"""Rule-based pre-check of proofs, and the math-text analysis that the embedded generator shares.

`RuleBasedPreChecker.check` reads only the question, the proof steps and, when the
problem is given, its reference proof and hypothesis conditions. It never reads how
a triplet was made (label, error type, error steps, method or generator parameters),
so its verdict is evidence that is independent of the construction label.

The first half of this module reads math in proof text. It finds formula spans
(LaTeX `$...$`, `\\(...\\)`, `\\[...\\]`, or formula-like runs in plain text) and
splits them into chains of relations. A safe evaluator over Python's `ast` decides
numeric relations and tests polynomial-style identities. Helpers extract the claim
and the hypotheses of a question and the named theorems a step cites. The generator
uses the same reading to decide where an edit applies.
"""

from __future__ import annotations

import ast
import difflib
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from tqdm import tqdm

from components.proofs.schema import Check, Problem, Triplet

logger = logging.getLogger(__name__)

CHECKER_NAME = "embedded-precheck-v1"

# ---------------------------------------------------------------------------
# Formula spans
# ---------------------------------------------------------------------------

_DELIMITED_MATH = re.compile(
    r"\$\$(?P<display>.+?)\$\$"
    r"|(?<!\\)\$(?P<inline>(?:\\.|[^$\\])+?)\$"
    r"|\\\((?P<paren>.+?)\\\)"
    r"|\\\[(?P<bracket>.+?)\\\]",
    re.DOTALL,
)
_MATH_GROUPS = ("display", "inline", "paren", "bracket")

# Plain-text formulas (proofs imported without LaTeX): a run of tokens made of math
# characters that contains an operator or a relation, such as "n^2 + n = n(n+1)".
_PLAIN_TOKEN = re.compile(r"\S+")
_PLAIN_MATH_TOKEN = re.compile(r"[A-Za-z0-9^_+\-*/=<>≤≥≠()\[\]{}!|.,'√−·×]+")
_OPERATOR_CHARACTERS = frozenset("+-*/=<>≤≥≠^−·×√!")
_FUNCTION_WORDS = frozenset({"sqrt", "sin", "cos", "tan", "log", "ln", "exp", "mod", "gcd", "lcm"})
_TWO_LETTER_WORDS = frozenset(
    {"am", "an", "as", "at", "be", "by", "do", "go", "he", "if", "in", "is", "it", "me", "my",
     "no", "of", "on", "or", "so", "to", "up", "us", "we"}
)

PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")


@dataclass(frozen=True)
class MathSpan:
    """A formula in a text: `start:end` includes its delimiters, `content` excludes them."""

    start: int
    end: int
    content_start: int
    content: str
    latex: bool  # False for a plain-text formula found without delimiters


def find_math(text: str) -> list[MathSpan]:
    """Return the formulas of `text`: its delimited LaTeX math, else its plain-text formulas."""
    spans = []
    for match in _DELIMITED_MATH.finditer(text):
        group = next(name for name in _MATH_GROUPS if match.group(name) is not None)
        spans.append(MathSpan(match.start(), match.end(), match.start(group), match.group(group), True))
    if spans or "$" in text or "\\(" in text:
        return spans
    return _plain_formulas(text)


def _is_formula_token(token: str) -> bool:
    core = token.rstrip(".,;:")
    if not core or not _PLAIN_MATH_TOKEN.fullmatch(core):
        return False
    for run in re.findall(r"[A-Za-z]+", core):
        lower = run.lower()
        if len(run) >= 3 and lower not in _FUNCTION_WORDS:
            return False
        if len(run) == 2 and (lower in _TWO_LETTER_WORDS or run.isupper()):
            return False
    return True


def _plain_formulas(text: str) -> list[MathSpan]:
    spans: list[MathSpan] = []
    run: list[re.Match[str]] = []

    def close_run() -> None:
        if not run:
            return
        start, end = run[0].start(), run[-1].end()
        while end > start and text[end - 1] in ".,;:":
            end -= 1
        body = text[start:end]
        if any(ch in _OPERATOR_CHARACTERS for ch in body) and any(ch.isalnum() for ch in body):
            spans.append(MathSpan(start, end, start, body, False))
        run.clear()

    for match in _PLAIN_TOKEN.finditer(text):
        if not _is_formula_token(match.group()):
            close_run()
            continue
        run.append(match)
        if match.group()[-1] in ".,;:":
            close_run()
    close_run()
    return spans


@dataclass(frozen=True)
class MaskedText:
    """A text whose formulas are replaced by placeholders, so that prose edits cannot touch them."""

    source: str
    masked: str
    spans: tuple[MathSpan, ...]

    def unmask(self, text: str, replacements: Mapping[int, str] | None = None) -> str:
        """Put the original formulas (or `replacements[i]` for formula i) back into `text`."""
        replacements = replacements or {}

        def restore(match: re.Match[str]) -> str:
            index = int(match.group(1))
            if index in replacements:
                return replacements[index]
            span = self.spans[index]
            return self.source[span.start : span.end]

        return PLACEHOLDER.sub(restore, text)

    def formula(self, index: int) -> MathSpan:
        return self.spans[index]


def mask_math(text: str) -> MaskedText:
    """Replace every formula of `text` by a private-use placeholder numbered from 0."""
    spans = find_math(text)
    parts = []
    last = 0
    for index, span in enumerate(spans):
        parts.append(text[last : span.start])
        parts.append(f"\ue000{index}\ue001")
        last = span.end
    parts.append(text[last:])
    return MaskedText(text, "".join(parts), tuple(spans))


def delimited_math(text: str) -> list[str]:
    """Return every delimited formula of `text` with its delimiters, in order."""
    return [text[span.start : span.end] for span in find_math(text) if span.latex]


def split_sentences(text: str) -> list[str]:
    """Split (masked) prose at sentence ends that are followed by a capital letter or a formula."""
    return [part for part in re.split(r"(?<=[.!?])\s+(?=[A-Z\ue000(])", text.strip()) if part]


# ---------------------------------------------------------------------------
# Relation chains
# ---------------------------------------------------------------------------

# "!=" is not a relation here: in "$7 \\cdot 2! = 14$" it is a factorial followed by "=".
_RELATION = re.compile(
    r"\\(?:leqslant|geqslant|leq|geq|neq|equiv|le|ge|ne|lt|gt)(?![A-Za-z])|<=|>=|[=<>≤≥≠≡]"
)
_RELATION_KIND = {
    "=": "=", "<": "<", ">": ">", "≤": "<=", "≥": ">=", "≠": "!=", "≡": "≡",
    "<=": "<=", ">=": ">=",
    "\\le": "<=", "\\leq": "<=", "\\leqslant": "<=", "\\ge": ">=", "\\geq": ">=", "\\geqslant": ">=",
    "\\lt": "<", "\\gt": ">", "\\ne": "!=", "\\neq": "!=", "\\equiv": "≡",
}
REVERSED_KIND = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}
REVERSED_SYMBOL = {
    "<": ">", ">": "<", "<=": ">=", ">=": "<=", "≤": "≥", "≥": "≤",
    "\\le": "\\ge", "\\ge": "\\le", "\\leq": "\\geq", "\\geq": "\\leq",
    "\\leqslant": "\\geqslant", "\\geqslant": "\\leqslant", "\\lt": "\\gt", "\\gt": "\\lt",
}
INEQUALITY_KINDS = frozenset(REVERSED_KIND)

_MODULUS = re.compile(
    r"\s*(?:\\pmod\s*\{(?P<a>[^{}]+)\}|\\pmod\s*(?P<b>[A-Za-z0-9]+)"
    r"|\(\s*\\(?:bmod|mod)\s*(?P<c>[^()]+)\)|\\(?:bmod|mod)\s*\{?(?P<d>[A-Za-z0-9]+)\}?"
    r"|\(\s*mod\s+(?P<e>[A-Za-z0-9]+)\s*\))\s*[.,;:]?\s*$"
)


def relation_kind(symbol: str) -> str:
    """Return the normalised relation of a symbol: '=', '<', '<=', '>', '>=', '!=' or '≡'."""
    return _RELATION_KIND[symbol]


@dataclass(frozen=True)
class Chain:
    """A formula read as `member symbol member symbol ...`, split at top-level relations.

    Offsets are relative to the formula text. A trailing modulus (`\\pmod{7}`) is
    split off into `modulus`.
    """

    members: tuple[str, ...]
    member_offsets: tuple[int, ...]
    symbols: tuple[str, ...]
    symbol_offsets: tuple[int, ...]
    modulus: str | None

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(_RELATION_KIND[symbol] for symbol in self.symbols)

    def member_index(self, offset: int) -> int | None:
        """Return the index of the member that contains `offset`, or None."""
        for index, (start, member) in enumerate(zip(self.member_offsets, self.members)):
            if start <= offset < start + len(member):
                return index
        return None


@lru_cache(maxsize=8192)
def relation_chain(formula: str) -> Chain:
    """Split `formula` at relations outside braces; `{...}` and `\\{...\\}` hide what they contain."""
    body = formula
    modulus = None
    match = _MODULUS.search(body)
    if match:
        modulus = next(group for group in match.groups() if group is not None).strip()
        body = body[: match.start()]
    body = body.rstrip(" .,;:\n\t")

    depth_at = []
    depth = 0
    position = 0
    while position < len(body):
        char = body[position]
        if char == "\\" and position + 1 < len(body) and body[position + 1] in "{}":
            depth += 1 if body[position + 1] == "{" else -1
            depth_at.extend([depth, depth])
            position += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        depth_at.append(depth)
        position += 1

    members: list[str] = []
    member_offsets: list[int] = []
    symbols: list[str] = []
    symbol_offsets: list[int] = []
    last = 0
    for relation in _RELATION.finditer(body):
        if depth_at[relation.start()] != 0:
            continue
        members.append(body[last : relation.start()])
        member_offsets.append(last)
        symbols.append(relation.group())
        symbol_offsets.append(relation.start())
        last = relation.end()
    members.append(body[last:])
    member_offsets.append(last)
    return Chain(tuple(members), tuple(member_offsets), tuple(symbols), tuple(symbol_offsets), modulus)


# ---------------------------------------------------------------------------
# Safe evaluation
# ---------------------------------------------------------------------------


class _Unsupported(Exception):
    """An expression outside the subset that the evaluator reads."""


_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\d+(?:\.\d+)?|sqrt(?![A-Za-z])|[A-Za-z]|\S")
_IGNORED_COMMANDS = frozenset(
    {"\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\big", "\\Big", "\\displaystyle",
     "\\textstyle", "\\,", "\\;", "\\:", "\\!", "\\ ", "\\quad", "\\qquad"}
)
_TIMES = frozenset({"\\cdot", "\\times", "\\ast", "*", "×", "·", "⋅"})
_GREEK = frozenset(
    {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
     "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi",
     "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega"}
)
_CALLABLES = frozenset({"sqrt", "fact", "binom"})
# Letters that name functions far more often than factors: "f(x)" is not f times x.
_FUNCTION_LETTERS = frozenset("fghFGHPQ")
_CLOSING = {"(": ")", "[": "]", "{": "}"}


def _variable(raw: str) -> str:
    return "v_" + re.sub(r"[^0-9A-Za-z]", lambda match: f"_{ord(match.group()):x}_", raw)


class _Converter:
    """Translate a LaTeX or plain-text expression into Python source for `ast.parse`.

    Juxtaposition becomes multiplication (`2n(n+1)` -> `2*n*(n+1)`), `\\frac`,
    `\\sqrt`, `\\binom`, `^`, `!` and subscripts are read, degrees (`^\\circ`)
    are dropped; anything else (sums, `\\dots`, `|x|`, `\\text`) raises _Unsupported.
    """

    def __init__(self, text: str, latex: bool) -> None:
        self.tokens = _TOKEN.findall(text)
        self.position = 0
        self.latex = latex

    def convert(self) -> str:
        return " ".join(self._sequence(None))

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _next(self) -> str:
        token = self._peek()
        if token is None:
            raise _Unsupported("unexpected end of expression")
        self.position += 1
        return token

    def _sequence(self, closing: str | None) -> list[str]:
        out: list[str] = []
        while True:
            token = self._peek()
            if token is None:
                if closing is not None:
                    raise _Unsupported("unbalanced brackets")
                return out
            self.position += 1
            if token == closing:
                return out
            if token in ")]}":
                raise _Unsupported("unbalanced brackets")
            self._emit(token, out)

    def _argument(self, single_digit: bool = False) -> list[str]:
        token = self._next()
        if token == "{":
            return ["(", *self._sequence("}"), ")"]
        if single_digit and token.isdigit() and len(token) > 1:
            # `\frac12` reads as \frac{1}{2}.
            self.tokens.insert(self.position, token[1:])
            token = token[0]
        part: list[str] = []
        self._emit(token, part)
        return part

    @staticmethod
    def _operand(out: list[str], parts: list[str]) -> None:
        if out and (out[-1] == ")" or _is_value_token(out[-1])):
            out.append("*")
        out.extend(parts)

    def _skip_degree(self) -> bool:
        if self._peek() == "\\circ":
            self.position += 1
            return True
        if self.tokens[self.position : self.position + 3] == ["{", "\\circ", "}"]:
            self.position += 3
            return True
        return False

    def _emit(self, token: str, out: list[str]) -> None:
        if token in _IGNORED_COMMANDS:
            return
        if token in ("\\frac", "\\dfrac", "\\tfrac"):
            numerator = self._argument(single_digit=True)
            denominator = self._argument(single_digit=True)
            self._operand(out, ["(", "(", *numerator, ")", "/", "(", *denominator, ")", ")"])
        elif token == "\\sqrt":
            if self._peek() == "[":
                raise _Unsupported("n-th roots are not read")
            self._operand(out, ["sqrt", "(", *self._argument(), ")"])
        elif token == "sqrt":
            if self._next() != "(":
                raise _Unsupported("sqrt without brackets")
            self._operand(out, ["sqrt", "(", *self._sequence(")"), ")"])
        elif token == "\\binom":
            top = self._argument(single_digit=True)
            bottom = self._argument(single_digit=True)
            self._operand(out, ["binom", "(", *top, ",", *bottom, ")"])
        elif token in _TIMES:
            out.append("*")
        elif token in ("\\div", "÷", "/"):
            out.append("/")
        elif token == "+":
            out.append("+")
        elif token in ("-", "−"):
            out.append("-")
        elif token == "^":
            if self._skip_degree():
                return
            if not out:
                raise _Unsupported("exponent without base")
            out.extend(["**", "(", *self._argument(), ")"])
        elif token == "_":
            self._subscript(out)
        elif token == "!":
            self._factorial(out)
        elif token in _CLOSING:
            self._operand(out, ["(", *self._sequence(_CLOSING[token]), ")"])
        elif token[0].isdigit():
            self._operand(out, [token])
        elif len(token) == 1 and token.isalpha():
            if token in _FUNCTION_LETTERS and self._peek() == "(":
                raise _Unsupported(f"function application {token}(...)")
            self._operand(out, [_variable(token)])
        elif token.startswith("\\") and token[1:] in _GREEK:
            self._operand(out, [_variable(token[1:])])
        elif token == "\\pi":
            self._operand(out, ["pi"])
        else:
            raise _Unsupported(f"token {token!r} is not read")

    def _subscript(self, out: list[str]) -> None:
        if not out or not out[-1].startswith("v_"):
            raise _Unsupported("subscript without a variable")
        token = self._next()
        if token == "{":
            raw = []
            depth = 1
            while depth:
                inner = self._next()
                depth += {"{": 1, "}": -1}.get(inner, 0)
                if depth:
                    raw.append(inner)
            text = "".join(raw)
        else:
            text = token
        out[-1] = out[-1] + "_" + _variable(text)

    @staticmethod
    def _factorial(out: list[str]) -> None:
        if not out:
            raise _Unsupported("factorial without operand")
        if out[-1] != ")":
            if not _is_value_token(out[-1]):
                raise _Unsupported("factorial of an operator")
            out[-1] = f"fact({out[-1]})"
            return
        depth = 0
        for index in range(len(out) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(out[index], 0)
            if depth == 0:
                if index > 0 and out[index - 1] in _CALLABLES:
                    raise _Unsupported("factorial of a function value")
                out[index:] = ["fact", "(", *out[index:], ")"]
                return
        raise _Unsupported("unbalanced brackets before factorial")


def _is_value_token(token: str) -> bool:
    if token in _CALLABLES:
        return False
    return token[0].isdigit() or token.isidentifier() or token.startswith("fact(")


_ALLOWED_NODES = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Call, ast.Load,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.UAdd, ast.USub,
)


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its `ast` tree and the variables it contains."""

    tree: ast.Expression
    variables: frozenset[str]


@lru_cache(maxsize=8192)
def parse_expression(text: str, latex: bool = True) -> Expression | None:
    """Parse a LaTeX (or plain-text) expression into a whitelisted `ast` tree, or return None."""
    try:
        source = _Converter(text, latex).convert()
    except _Unsupported:
        return None
    if not source.strip():
        return None
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        return None
    variables = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            return None
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _CALLABLES or node.keywords:
                return None
        elif isinstance(node, ast.Name) and node.id not in _CALLABLES and node.id != "pi":
            variables.add(node.id)
    return Expression(tree, frozenset(variables))


Number = Fraction | float

# Bounds that keep exact arithmetic cheap: 2^4096 has 4097 bits.
_MAX_EXPONENT = 4096
_MAX_BITS = 100_000
_MAX_FACTORIAL = 2000


def evaluate(expression: Expression, values: Mapping[str, Number] | None = None) -> Number:
    """Evaluate a parsed expression exactly (Fractions) where possible, else in floating point.

    Raises ValueError for a free variable, a division by zero, a result that is not
    a finite real number, or an operand too large to compute.
    """
    try:
        result = _evaluate(expression.tree.body, values or {})
    except (_Unsupported, ZeroDivisionError, OverflowError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from exc
    if isinstance(result, float) and not math.isfinite(result):
        raise ValueError("result is not finite")
    return result


def _evaluate(node: ast.AST, values: Mapping[str, Number]) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise _Unsupported("constant")
        return Fraction(node.value) if isinstance(node.value, int) else Fraction(str(node.value))
    if isinstance(node, ast.Name):
        if node.id == "pi":
            return math.pi
        if node.id not in values:
            raise _Unsupported(f"free variable {node.id}")
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left = _evaluate(node.left, values)
        right = _evaluate(node.right, values)
        return _binary(node.op, left, right)
    if isinstance(node, ast.Call):
        arguments = [_evaluate(argument, values) for argument in node.args]
        return _call(node.func.id, arguments)  # type: ignore[attr-defined]
    raise _Unsupported(type(node).__name__)


def _binary(op: ast.operator, left: Number, right: Number) -> Number:
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.Mult):
        return left * right
    if isinstance(op, ast.Div):
        if right == 0:
            raise ZeroDivisionError("division by zero")
        return left / right
    if isinstance(op, ast.Mod):
        if not (_is_integer(left) and _is_integer(right)) or right == 0:
            raise _Unsupported("modulo needs integers")
        return Fraction(int(left) % int(right))
    return _power(left, right)


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, Fraction) and isinstance(exponent, Fraction) and exponent.denominator == 1:
        power = int(exponent)
        if abs(power) > _MAX_EXPONENT:
            raise _Unsupported("exponent too large")
        bits = max(abs(base.numerator).bit_length(), base.denominator.bit_length()) * abs(power)
        if bits > _MAX_BITS:
            raise _Unsupported("power too large")
        if base == 0 and power < 0:
            raise ZeroDivisionError("zero to a negative power")
        return base**power
    real_base, real_exponent = float(base), float(exponent)
    if real_base < 0 and not real_exponent.is_integer():
        raise _Unsupported("fractional power of a negative number")
    if real_base == 0 and real_exponent < 0:
        raise ZeroDivisionError("zero to a negative power")
    return real_base**real_exponent


def _call(name: str, arguments: list[Number]) -> Number:
    if name == "sqrt" and len(arguments) == 1:
        value = arguments[0]
        if value < 0:
            raise _Unsupported("square root of a negative number")
        if isinstance(value, Fraction):
            numerator, denominator = math.isqrt(value.numerator), math.isqrt(value.denominator)
            if numerator**2 == value.numerator and denominator**2 == value.denominator:
                return Fraction(numerator, denominator)
        return math.sqrt(value)
    if name == "fact" and len(arguments) == 1:
        value = arguments[0]
        if not _is_integer(value) or not 0 <= value <= _MAX_FACTORIAL:
            raise _Unsupported("factorial of a non-integer or a large number")
        return Fraction(math.factorial(int(value)))
    if name == "binom" and len(arguments) == 2:
        top, bottom = arguments
        if not (_is_integer(top) and _is_integer(bottom)) or top < 0 or top > _MAX_FACTORIAL:
            raise _Unsupported("binomial of non-integers")
        return Fraction(math.comb(int(top), int(bottom))) if bottom >= 0 else Fraction(0)
    raise _Unsupported(f"call {name}")


def _is_integer(value: Number) -> bool:
    return isinstance(value, Fraction) and value.denominator == 1


def compare(left: Number, right: Number, kind: str) -> bool:
    """Return whether `left kind right` holds; floats compare with a relative tolerance of 1e-9.

    Raises ValueError when a float meets a Fraction too large to convert.
    """
    if isinstance(left, Fraction) and isinstance(right, Fraction):
        difference: Number = left - right
    else:
        try:
            difference = float(left) - float(right)
        except OverflowError as exc:
            raise ValueError("operand too large to compare with a float") from exc
        if abs(difference) <= 1e-9 * max(1.0, abs(float(left)), abs(float(right))):
            difference = 0.0
    sign = (difference > 0) - (difference < 0)
    return {
        "=": sign == 0, "!=": sign != 0, "<": sign < 0, "<=": sign <= 0, ">": sign > 0, ">=": sign >= 0,
    }[kind]


# Integer sample points for identity tests: integers keep Fractions exact and make
# (-1)^n and n! defined. Five points separate any two distinct polynomials of degree
# below five in one variable; higher degrees could in rare cases agree by chance.
_SAMPLES = (2, 3, 5, 7, 11, 13, 17)
_IDENTITY_POINTS = 5


@dataclass(frozen=True)
class RelationCheck:
    """The outcome of evaluating one relation `left symbol right` of a chain.

    `status` is "true" or "false" when both sides are numeric. It is "identity" or
    "not_identity" for an equality with variables, tested at integer points. It is
    "unknown" when a side cannot be parsed or the relation cannot be decided.
    """

    left: str
    symbol: str
    right: str
    status: str
    left_value: Number | None = None
    right_value: Number | None = None
    left_variables: frozenset[str] = frozenset()
    right_variables: frozenset[str] = frozenset()

    @property
    def kind(self) -> str:
        return _RELATION_KIND[self.symbol]

    @property
    def text(self) -> str:
        return f"{self.left.strip()} {self.symbol} {self.right.strip()}"


def check_relation(left: str, symbol: str, right: str, *, modulus: str | None = None, latex: bool = True) -> RelationCheck:
    """Evaluate `left symbol right` (see RelationCheck for the possible statuses)."""
    kind = _RELATION_KIND[symbol]
    left_expression = parse_expression(left.strip(), latex)
    right_expression = parse_expression(right.strip(), latex)
    if left_expression is None or right_expression is None:
        return RelationCheck(left, symbol, right, "unknown")
    variables = (left_expression.variables, right_expression.variables)
    unknown = RelationCheck(left, symbol, right, "unknown", None, None, *variables)

    if not left_expression.variables and not right_expression.variables:
        try:
            left_value, right_value = evaluate(left_expression), evaluate(right_expression)
            if kind == "≡":
                is_true = _congruent(left_value, right_value, modulus, latex)
            else:
                is_true = compare(left_value, right_value, kind)
        except ValueError:
            return unknown
        if is_true is None:
            return unknown
        return RelationCheck(
            left, symbol, right, "true" if is_true else "false", left_value, right_value, *variables
        )

    if kind != "=":
        return unknown
    names = sorted(left_expression.variables | right_expression.variables)
    agree = disagree = 0
    for point in range(_IDENTITY_POINTS):
        values = {
            name: Fraction(_SAMPLES[(point + 2 * index) % len(_SAMPLES)] + index)
            for index, name in enumerate(names)
        }
        try:
            equal = compare(evaluate(left_expression, values), evaluate(right_expression, values), "=")
        except ValueError:
            continue
        agree += equal
        disagree += not equal
    if disagree:
        return RelationCheck(left, symbol, right, "not_identity", None, None, *variables)
    if agree >= 3:
        return RelationCheck(left, symbol, right, "identity", None, None, *variables)
    return unknown


def _congruent(left: Number, right: Number, modulus: str | None, latex: bool) -> bool | None:
    if modulus is None:
        return None
    parsed = parse_expression(modulus, latex)
    if parsed is None or parsed.variables:
        return None
    try:
        value = evaluate(parsed)
    except ValueError:
        return None
    if not (_is_integer(left) and _is_integer(right) and _is_integer(value)) or value == 0:
        return None
    return (int(left) - int(right)) % int(value) == 0


def chain_checks(chain: Chain, *, latex: bool = True) -> list[RelationCheck]:
    """Evaluate each relation between neighbouring members of a chain."""
    return [
        check_relation(chain.members[index], symbol, chain.members[index + 1], modulus=chain.modulus, latex=latex)
        for index, symbol in enumerate(chain.symbols)
    ]


# ---------------------------------------------------------------------------
# Claims, conditions, theorems and phrase cues
# ---------------------------------------------------------------------------

_CLAIM_CUE = re.compile(r"\b(?:prove|show|demonstrate|verify|establish)\s+that\s+", re.IGNORECASE)
_CLAIM_COLON = re.compile(r"\b(?:prove|show)\b[^.:\ue000]*:\s+", re.IGNORECASE)


def _claim_region(masked: str) -> tuple[int, int] | None:
    match = _CLAIM_CUE.search(masked) or _CLAIM_COLON.search(masked)
    if match is None:
        return None
    rest = masked[match.end() :]
    end = re.search(r"[.?!](?:\s|$)", rest)
    return match.end(), match.end() + (end.start() if end else len(rest))


def extract_claim(question: str) -> str | None:
    """Return the statement to prove ("Prove that X." -> X), or None without such a phrase."""
    masked = mask_math(question)
    region = _claim_region(masked.masked)
    if region is None:
        return None
    claim = masked.masked[region[0] : region[1]].strip().rstrip(".")
    return masked.unmask(claim) or None


def assumable_claim(question: str) -> str | None:
    """Return the part of the claim that a circular proof would assume.

    For "if H, then C" that is C, because H is given; otherwise the whole claim.
    """
    claim = extract_claim(question)
    if claim is None:
        return None
    match = re.match(r"^if\s+(.+?),\s*then\s+(.+)$", claim, re.IGNORECASE | re.DOTALL)
    return match.group(2).strip() if match else claim


CONDITION_WORDS = (
    "nonnegative", "non-negative", "positive", "negative", "nonzero", "non-zero", "distinct", "odd",
    "even", "prime", "coprime", "acute", "obtuse", "convex", "integer", "integers", "rational",
    "irrational", "real", "finite", "parallel", "perpendicular", "isosceles", "equilateral",
)
_CONDITION_WORD = re.compile(r"\b(?:" + "|".join(map(re.escape, CONDITION_WORDS)) + r")\b", re.IGNORECASE)
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the then this to we with "
    "which so hence thus therefore since because let be there their these those all any each every".split()
)


def extract_conditions(question: str) -> list[str]:
    """Return hypothesis phrases of a question: relations in its formulas and condition words.

    Only the text before "prove that" counts, so the claim itself is not taken as a
    hypothesis. Catches "$x > 0$", "$a + b + c = 3$", "positive", "odd"; misses
    hypotheses stated inside the claim ("for all positive $n$, ...").
    """
    masked = mask_math(question)
    region = _claim_region(masked.masked)
    limit = region[0] if region else len(masked.masked)
    conditions: list[str] = []
    for match in PLACEHOLDER.finditer(masked.masked[:limit]):
        span = masked.formula(int(match.group(1)))
        chain = relation_chain(span.content)
        if chain.symbols and all(member.strip() for member in chain.members):
            conditions.append(question[span.start : span.end])
    for match in _CONDITION_WORD.finditer(masked.masked[:limit]):
        word = match.group().lower()
        if word not in conditions:
            conditions.append(word)
    return conditions


def problem_conditions(problem: Problem) -> list[str]:
    """Return the problem's hypothesis phrases: metadata `conditions`, else those found in the question."""
    listed = problem.metadata.get("conditions")
    if isinstance(listed, list) and any(isinstance(item, str) and item.strip() for item in listed):
        return [item for item in listed if isinstance(item, str) and item.strip()]
    return extract_conditions(problem.question)


def _normalize_math(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("$", ""))


@dataclass(frozen=True)
class ConditionTerm:
    """The part of a hypothesis phrase whose presence shows that a proof uses it."""

    kind: str  # "math" (a formula, compared without spaces) or "word"
    value: str

    def occurs_in(self, text: str) -> bool:
        if self.kind == "math":
            return self.value in _normalize_math(text)
        return re.search(rf"\b{re.escape(self.value)}\b", text, re.IGNORECASE) is not None


def condition_term(condition: str) -> ConditionTerm | None:
    """Return the term that marks a use of `condition`.

    Preference: a formula with a relation ("$p > 3$"), a condition word ("positive"
    in "positive real numbers"), a formula with an operator, then the first content
    word of four or more letters ("diameter"). None when nothing is specific enough.
    """
    spans = find_math(condition)
    formulas = [span.content for span in spans if span.latex]
    for formula in formulas:
        if relation_chain(formula).symbols:
            return ConditionTerm("math", _normalize_math(formula))
    word = _CONDITION_WORD.search(condition)
    if word:
        return ConditionTerm("word", word.group().lower())
    for formula in formulas:
        if any(ch in formula for ch in "+-*/^"):
            return ConditionTerm("math", _normalize_math(formula))
    prose = mask_math(condition).masked
    for candidate in re.findall(r"[A-Za-z][A-Za-z-]{3,}", prose):
        if candidate.lower() not in _STOPWORDS:
            return ConditionTerm("word", candidate.lower())
    return None


@dataclass(frozen=True)
class Theorem:
    """A named theorem: the pattern that finds it and wrong theorems to swap in for it."""

    name: str
    pattern: re.Pattern[str]
    wrong: tuple[str, ...]


def _theorem(name: str, pattern: str, *wrong: str) -> Theorem:
    return Theorem(name, re.compile(pattern, re.IGNORECASE), wrong)


# Each pattern swallows a leading "the" so that a replacement can bring its own article.
THEOREMS: tuple[Theorem, ...] = (
    _theorem("AM-GM inequality",
             r"(?:the\s+)?(?:AM[-–]GM|arithmetic[- ]mean[- ]geometric[- ]mean|arithmetic[- ]geometric[- ]mean)(?:\s+inequality)?",
             "Bernoulli's inequality", "the rearrangement inequality"),
    _theorem("Cauchy-Schwarz inequality", r"(?:the\s+)?Cauchy[-– ]Schwarz(?:\s+inequality)?",
             "the triangle inequality", "Bernoulli's inequality"),
    _theorem("triangle inequality", r"(?:the\s+)?triangle\s+inequality",
             "the Cauchy-Schwarz inequality", "the AM-GM inequality"),
    _theorem("Bernoulli's inequality", r"Bernoulli'?s\s+inequality", "the AM-GM inequality"),
    _theorem("Jensen's inequality", r"Jensen'?s\s+inequality", "Chebyshev's sum inequality"),
    _theorem("rearrangement inequality", r"(?:the\s+)?rearrangement\s+inequality", "the AM-GM inequality"),
    _theorem("Pythagorean theorem",
             r"(?:the\s+)?(?:Pythagorean\s+theorem|Pythagoras'?s?\s+theorem|theorem\s+of\s+Pythagoras)",
             "the law of sines", "Thales' theorem"),
    _theorem("law of cosines", r"(?:the\s+)?(?:law\s+of\s+cosines|cosine\s+rule)", "the law of sines"),
    _theorem("law of sines", r"(?:the\s+)?(?:law\s+of\s+sines|sine\s+rule)", "the law of cosines"),
    _theorem("Thales' theorem", r"Thales'?s?\s+theorem", "the Pythagorean theorem"),
    _theorem("Fermat's little theorem", r"Fermat'?s\s+little\s+theorem",
             "Wilson's theorem", "the Chinese remainder theorem"),
    _theorem("Wilson's theorem", r"Wilson'?s\s+theorem", "Fermat's little theorem"),
    _theorem("Euler's theorem", r"Euler'?s\s+theorem", "Wilson's theorem"),
    _theorem("Chinese remainder theorem", r"(?:the\s+)?Chinese\s+remainder\s+theorem", "Fermat's little theorem"),
    _theorem("pigeonhole principle", r"(?:the\s+)?pigeonhole\s+principle", "the principle of inclusion-exclusion"),
    _theorem("inclusion-exclusion",
             r"(?:the\s+)?(?:principle\s+of\s+)?inclusion[-– ]exclusion(?:\s+principle)?", "the pigeonhole principle"),
    _theorem("Bezout's identity", r"B[ée]zout'?s\s+(?:identity|lemma|theorem)", "Euclid's lemma"),
    _theorem("Euclid's lemma", r"Euclid'?s\s+lemma", "Bezout's identity"),
    _theorem("fundamental theorem of arithmetic", r"(?:the\s+)?fundamental\s+theorem\s+of\s+arithmetic",
             "the fundamental theorem of algebra"),
    _theorem("fundamental theorem of algebra", r"(?:the\s+)?fundamental\s+theorem\s+of\s+algebra",
             "the fundamental theorem of arithmetic"),
    _theorem("fundamental theorem of calculus", r"(?:the\s+)?fundamental\s+theorem\s+of\s+calculus",
             "the mean value theorem"),
    _theorem("mean value theorem", r"(?:the\s+)?mean\s+value\s+theorem", "the intermediate value theorem"),
    _theorem("intermediate value theorem", r"(?:the\s+)?intermediate\s+value\s+theorem", "the mean value theorem"),
    _theorem("Rolle's theorem", r"Rolle'?s\s+theorem", "the intermediate value theorem"),
    _theorem("squeeze theorem", r"(?:the\s+)?squeeze\s+theorem", "the intermediate value theorem"),
    _theorem("binomial theorem", r"(?:the\s+)?binomial\s+theorem", "Vieta's formulas"),
    _theorem("Vieta's formulas", r"Vieta'?s\s+formulas?", "the binomial theorem"),
    _theorem("Ceva's theorem", r"Ceva'?s\s+theorem", "Menelaus' theorem"),
    _theorem("Menelaus' theorem", r"Menelaus'?s?\s+theorem", "Ceva's theorem"),
    _theorem("Ptolemy's theorem", r"Ptolemy'?s\s+theorem", "Stewart's theorem"),
    _theorem("Lagrange's theorem", r"Lagrange'?s\s+theorem", "Cauchy's theorem"),
    _theorem("handshake lemma", r"(?:the\s+)?handshak(?:e|ing)\s+lemma", "the pigeonhole principle"),
)
_MEAN_INEQUALITIES = ("AM-GM inequality", "Cauchy-Schwarz inequality")


def find_theorems(text: str) -> list[tuple[Theorem, re.Match[str]]]:
    """Return the named theorems cited in `text` (outside formulas), in order of appearance."""
    masked = mask_math(text).masked
    found = []
    for theorem in THEOREMS:
        for match in theorem.pattern.finditer(masked):
            found.append((theorem, match))
    found.sort(key=lambda item: item[1].start())
    return found


BARE_ASSERTION = re.compile(
    r"\b(?:clearly|obviously|evidently|trivially|it is (?:obvious|clear|evident|easy to see) that)\b",
    re.IGNORECASE,
)
_JUSTIFICATION_WORDS = re.compile(r"\b(?:since|because|as|by|using|given|from|applying|follows)\b", re.IGNORECASE)
_PROSE_INEQUALITY_WORDS = {"least": "most", "most": "least", "greater": "less", "less": "greater",
                           "larger": "smaller", "smaller": "larger"}


# ---------------------------------------------------------------------------
# Heuristics
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One suspicious spot: the 1-based step, how strongly it suggests an error (0..1), and why."""

    step: int
    weight: float
    message: str


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _format_number(value: Number | None) -> str:
    if value is None:
        return "?"
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    return f"{value:.6g}"


_IDENTITY_CUE = re.compile(
    r"\b(?:expand\w*|simplif\w*|factor\w*|rewrit\w*|regroup\w*|multiplying out|identity)\b", re.IGNORECASE
)


def find_false_relations(steps: Sequence[str]) -> list[Finding]:
    """Flag relations that evaluate to false.

    Catches numeric slips in explicit computations ("$9 + 16 = 24$", "$2^{10} = 1034$"),
    reversed inequalities between numbers ("$32 < 25$") and false congruences
    ("$16 \\equiv 2 \\pmod 5$"). Skips a false relation that its sentence marks as
    false or hypothetical ("so $11/5 = 1$, which is false", "we check whether ..."),
    and a formula that continues outside its delimiters ("$64$ squares / $2 = 32$").

    Also catches an equality with variables that fails at integer points where an
    identity is expected: a link between expressions in the same variables inside a
    chain whose other links are identities ("A = B = C" with A = B an identity). A
    single equation in a step that claims to expand, simplify or rewrite is only weak
    evidence, because such steps often substitute a hypothesis. For the same reason a
    link is skipped when it contains every variable of an equation stated elsewhere
    in the step that is not an identity (a hypothesis such as "$xyz = 1$").

    Misses relations in notation the evaluator does not read (sums, `\\dots`, `|x|`,
    functions, angles), inequalities with variables, slips in prose, and a slip in a
    sentence that also contains a word such as "not" or "if".
    """
    findings = []
    for number, step in enumerate(steps, start=1):
        masked = mask_math(step)
        expects_identity = _IDENTITY_CUE.search(masked.masked) is not None
        chains = []
        for index, span in enumerate(masked.spans):
            chain = relation_chain(span.content)
            if chain.symbols:
                chains.append((_intentionally_false(masked, index), chain_checks(chain, latex=span.latex)))
        # One-relation equations that are not identities ("$xyz = 1$") are hypotheses the step may substitute.
        hypotheses = [
            (position, checks[0].left_variables | checks[0].right_variables)
            for position, (_, checks) in enumerate(chains)
            if len(checks) == 1 and checks[0].status == "not_identity"
        ]
        for position, (intentional, checks) in enumerate(chains):
            for check in checks:
                if check.status == "false" and not intentional:
                    findings.append(Finding(
                        number, 0.9,
                        f"`{_short(check.text)}` is false: the left side is {_format_number(check.left_value)} "
                        f"and the right side is {_format_number(check.right_value)}",
                    ))
            substituted = [variables for other, variables in hypotheses if other != position]
            findings.extend(_identity_findings(number, checks, expects_identity, substituted))
    return findings


_NOT_ASSERTED = re.compile(
    r"\b(?:false|impossible|contradict\w*|absurd|cannot|can't|not|never|fails?|wrong|would|suppose|assume"
    r"|check|checking|test|need|want|whether)\b",
    re.IGNORECASE,
)


def _intentionally_false(masked: MaskedText, index: int) -> bool:
    """Return whether formula `index` is stated as false or hypothetical, or runs on outside its delimiters."""
    placeholder = f"\ue000{index}\ue001"
    position = masked.masked.index(placeholder)
    before = masked.masked[:position]
    after = masked.masked[position + len(placeholder) :]
    if re.search(r"[-+*/×·]\s*$", before) or re.match(r"\s*[-+*/×·^]", after):
        return True
    sentence_start = max(before.rfind(". "), before.rfind("\n"), 0)
    sentence_end = min([end for end in (after.find(". "), after.find("\n")) if end >= 0] or [len(after)])
    return _NOT_ASSERTED.search(before[sentence_start:] + " " + after[:sentence_end]) is not None


def _same_variables(check: RelationCheck) -> bool:
    return bool(check.left_variables) and check.left_variables == check.right_variables


def _identity_findings(
    number: int, checks: Sequence[RelationCheck], expects_identity: bool, substituted: Sequence[frozenset[str]]
) -> list[Finding]:
    """Return findings for links of a chain that should be identities but are not.

    `substituted` contains the variable sets of equations stated elsewhere in the
    step. A link that contains every variable of one of them may substitute that
    equation, so it is skipped.
    """
    broken = [
        check for check in checks
        if check.status == "not_identity"
        and _same_variables(check)
        and not any(variables <= check.left_variables for variables in substituted)
    ]
    if not broken:
        return []
    if len(checks) >= 2:
        if not any(check.status == "identity" for check in checks):
            return []
        return [
            Finding(number, 0.7, f"`{_short(check.text)}` breaks a chain of identities: the sides differ at integer points")
            for check in broken
        ]
    if expects_identity:
        return [Finding(
            number, 0.45, f"`{_short(broken[0].text)}` is presented as an identity but the sides differ at integer points"
        )]
    return []


_ASSUMPTION_CUE = re.compile(
    r"\b(?:since|because|as|assume|assuming|suppose|supposing|given|using|by)\b(?:\s+that)?", re.IGNORECASE
)
_NEGATION = re.compile(r"\b(?:not|false|contrary|contradiction|fails|does not|negation)\b", re.IGNORECASE)
_CIRCULAR_PHRASES = re.compile(
    r"\b(?:which is what we (?:want|need|wish) to (?:prove|show)|the statement (?:to be proved|we are proving)"
    r"|as we want to (?:prove|show)|by the (?:claim|statement) itself)\b",
    re.IGNORECASE,
)


def _normalize_prose(text: str) -> str:
    return " ".join(text.replace("$", " ").lower().split())


def find_circular_steps(question: str, steps: Sequence[str]) -> list[Finding]:
    """Flag non-final steps that assume the statement to be proved.

    Catches the claim of the question (from "prove that ...", or the conclusion of an
    "if ..., then ..." claim) copied after "since", "assume", "using" and similar
    words, and phrases such as "which is what we want to prove" used as a reason.
    Misses a circular argument that restates the claim in other words or assumes an
    equivalent form of it. Skips steps that negate the claim (proof by contradiction).
    """
    findings: list[Finding] = []
    claims = {claim for claim in (extract_claim(question), assumable_claim(question)) if claim}
    # "for every integer $n$, P(n)" is also assumed as plain "P(n)".
    claims |= {
        match.group(1) for claim in list(claims)
        if (match := re.match(r"^for (?:all|every|each|any)\b[^,]*,\s*(.+)$", claim, re.IGNORECASE | re.DOTALL))
    }
    normalized_claims = sorted({_normalize_prose(claim) for claim in claims}, key=lambda claim: (-len(claim), claim))
    normalized_claims = [claim for claim in normalized_claims if len(claim) >= 10]
    for number, step in enumerate(steps[:-1], start=1):
        text = _normalize_prose(step)
        if _CIRCULAR_PHRASES.search(step):
            findings.append(Finding(number, 0.7, "uses the statement to be proved as a reason"))
            continue
        for claim in normalized_claims:
            position = text.find(claim)
            if position < 0:
                continue
            before = text[max(0, position - 60) : position]
            after = text[position + len(claim) : position + len(claim) + 25]
            if _ASSUMPTION_CUE.search(before) and not _NEGATION.search(before + " " + after):
                findings.append(Finding(number, 0.75, f"assumes the statement to be proved ('{_short(claim, 60)}')"))
                break
    return findings


# "$n = 3$", "n = 3," or "n = 3 and": a variable set to an integer, not "(3^2)^n = 3 \\cdot 9^n".
_EXAMPLE_VALUE = re.compile(r"(?:^|(?<=[\s$,(]))([A-Za-z])\s*=\s*(-?\d+)\s*(?=\$|,|;|\.|\)|\s+(?:and|or|gives?)\b|$)")
# "for all $n$", "for every positive integer $n$": group 1 is the variable.
_QUANTIFIED_VARIABLE = re.compile(
    r"\bfor (?:all|every|each|any)\s+(?:[A-Za-z-]+\s+){0,3}?(?:\$|\\\()?\s*([A-Za-z])\b(?!\s*[=(])", re.IGNORECASE
)
_CONCLUDE = re.compile(
    r"\b(?:hence|therefore|thus|so|consequently|it follows|we conclude|holds|is true)\b", re.IGNORECASE
)
_INDUCTION = re.compile(r"\binducti(?:on|ve)\b", re.IGNORECASE)
_SMALL_CASES = re.compile(
    r"\b(?:small cases|first (?:few )?(?:cases|values)|we check|checking|can be checked directly)\b", re.IGNORECASE
)
_EXAMPLE_SENTENCE = re.compile(r"\b(?:for example|for instance|e\.g\.)", re.IGNORECASE)


def find_generalization(steps: Sequence[str]) -> list[Finding]:
    """Flag a conclusion "for all n" drawn from checking a few values of n.

    Catches a sentence that concludes for all (every, each, any) values of a
    variable after at least two values of that same variable were checked ("$n = 1$,
    $n = 2$, $n = 3$"), or right after "we check small cases", when the proof never
    mentions induction. Values in sentences that give an example ("for example,
    $n = 1$ gives ...") do not count. Misses generalizations worded without a
    quantifier and ones hidden inside an induction proof (for instance a missing
    induction step).
    """
    if any(_INDUCTION.search(step) for step in steps):
        return []
    values: dict[str, set[str]] = {}
    recent_small_cases = 0  # sentences since "we check small cases", counting down
    for number, step in enumerate(steps, start=1):
        for sentence in split_sentences(step):
            if _EXAMPLE_SENTENCE.search(sentence):
                continue
            for name, value in _EXAMPLE_VALUE.findall(sentence):
                values.setdefault(name, set()).add(value)
            recent_small_cases = 3 if _SMALL_CASES.search(sentence) else max(0, recent_small_cases - 1)
            quantified = _QUANTIFIED_VARIABLE.search(sentence)
            if quantified is None or not _CONCLUDE.search(sentence):
                continue
            variable = quantified.group(1)
            if len(values.get(variable, ())) >= 2 or recent_small_cases:
                return [Finding(number, 0.75, f"concludes a statement for all {variable} from a few checked cases")]
    return []


_MEAN_PATTERN = re.compile(r"AM[-–]GM|arithmetic[- ]mean|Cauchy[-– ]Schwarz", re.IGNORECASE)


def _contains_root(text: str) -> bool:
    return "\\sqrt" in text or "sqrt(" in text or "^{1/" in text or "^{\\frac{1}" in text


def find_wrong_mean_direction(steps: Sequence[str]) -> list[Finding]:
    """Flag AM-GM applied in the wrong direction: the root (geometric mean) on the larger side.

    Catches "$a + b \\le 2\\sqrt{ab}$" in a step that cites AM-GM. Misses forms
    without a root (powers such as $(abc)^{1/3}$ written otherwise) and the
    direction of Cauchy-Schwarz, whose sides have no such simple marker.
    """
    findings = []
    for number, step in enumerate(steps, start=1):
        if not _MEAN_PATTERN.search(step):
            continue
        for span in find_math(step):
            chain = relation_chain(span.content)
            for index, kind in enumerate(chain.kinds):
                if kind not in INEQUALITY_KINDS:
                    continue
                left, right = chain.members[index], chain.members[index + 1]
                larger, smaller = (right, left) if kind in ("<", "<=") else (left, right)
                if _contains_root(larger) and not _contains_root(smaller):
                    findings.append(Finding(
                        number, 0.7,
                        f"`{_short(left + ' ' + chain.symbols[index] + ' ' + right)}` puts the geometric mean "
                        "on the larger side, the opposite of AM-GM",
                    ))
    return findings


def find_bare_assertions(steps: Sequence[str]) -> list[Finding]:
    """Flag "clearly", "obviously", "it is obvious that" as weak evidence of a skipped derivation.

    Alone this never makes a proof incorrect, because correct proofs use these words
    too. With a reference proof, the comparison gives the cue more weight when the
    reference step has a derivation in its place.
    """
    return [
        Finding(number, 0.3, "asserts a result as obvious without a derivation")
        for number, step in enumerate(steps, start=1)
        if BARE_ASSERTION.search(step)
    ]


# ---------------------------------------------------------------------------
# Comparison with the reference proof
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _StepView:
    text: str
    formulas: tuple[str, ...]
    words: tuple[str, ...]
    numbers: tuple[str, ...]
    theorems: frozenset[str]
    bare: bool
    justified: bool
    inequality_words: tuple[str, ...]

    @property
    def key(self) -> str:
        return "|".join(sorted(self.formulas)) + "#" + " ".join(sorted(self.words))


def _view(step: str) -> _StepView:
    masked = mask_math(step)
    prose = PLACEHOLDER.sub(" ", masked.masked)
    words = tuple(word for word in re.findall(r"[a-z]+(?:'[a-z]+)?", prose.lower()) if word not in _STOPWORDS)
    return _StepView(
        text=step,
        formulas=tuple(_normalize_math(span.content) for span in masked.spans),
        words=words,
        numbers=tuple(re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])", prose)),
        theorems=frozenset(theorem.name for theorem, _ in find_theorems(step)),
        bare=BARE_ASSERTION.search(prose) is not None,
        justified=_JUSTIFICATION_WORDS.search(prose) is not None,
        inequality_words=tuple(word for word in words if word in _PROSE_INEQUALITY_WORDS),
    )


def _dice(first: Sequence[str], second: Sequence[str]) -> float:
    if not first and not second:
        return 1.0
    common = sum((Counter(first) & Counter(second)).values())
    return 2.0 * common / (len(first) + len(second))


def _similarity(first: _StepView, second: _StepView) -> float:
    word_score = _dice(first.words, second.words)
    if not first.formulas and not second.formulas:
        return word_score
    # Reordered clauses keep the formulas but change their order, hence the multiset score.
    formula_score = max(
        _dice(first.formulas, second.formulas),
        difflib.SequenceMatcher(None, " ".join(first.formulas), " ".join(second.formulas), autojunk=False).ratio(),
    )
    return 0.5 * formula_score + 0.5 * word_score


_PAIRING_THRESHOLD = 0.45
_SQUARE_BLOCK_THRESHOLD = 0.3


def align_steps(reference: Sequence[_StepView], candidate: Sequence[_StepView]) -> list[tuple[int | None, int | None]]:
    """Align two proofs step by step: difflib over step keys, then best pairs inside changed blocks.

    A key is the step's formulas plus its sorted content words, so reordered clauses
    and swapped connectives still match exactly. Inside a block that difflib reports
    as replaced, steps pair up (in order) when their similarity reaches 0.45; the
    rest stay unpaired as dropped (reference only) or inserted (candidate only).
    """
    matcher = difflib.SequenceMatcher(
        None, [view.key for view in reference], [view.key for view in candidate], autojunk=False
    )
    pairs: list[tuple[int | None, int | None]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs.extend((i1 + offset, j1 + offset) for offset in range(i2 - i1))
        elif tag == "delete":
            pairs.extend((index, None) for index in range(i1, i2))
        elif tag == "insert":
            pairs.extend((None, index) for index in range(j1, j2))
        else:
            pairs.extend(_pair_block(reference, candidate, range(i1, i2), range(j1, j2)))
    return pairs


def _pair_block(
    reference: Sequence[_StepView], candidate: Sequence[_StepView], rows: range, columns: range
) -> list[tuple[int | None, int | None]]:
    """Pair the steps of one replaced block by dynamic programming over similarity.

    A block with as many candidate as reference steps was most likely edited in
    place, so its steps pair from a lower similarity (0.3 instead of 0.45).
    """
    threshold = _SQUARE_BLOCK_THRESHOLD if len(rows) == len(columns) else _PAIRING_THRESHOLD
    similarity = [[_similarity(reference[i], candidate[j]) for j in columns] for i in rows]
    height, width = len(rows), len(columns)
    best = [[0.0] * (width + 1) for _ in range(height + 1)]
    for i in range(height - 1, -1, -1):
        for j in range(width - 1, -1, -1):
            options = [best[i + 1][j], best[i][j + 1]]
            if similarity[i][j] >= threshold:
                options.append(similarity[i][j] + best[i + 1][j + 1])
            best[i][j] = max(options)

    pairs: list[tuple[int | None, int | None]] = []
    i = j = 0
    while i < height and j < width:
        if similarity[i][j] >= threshold and best[i][j] == similarity[i][j] + best[i + 1][j + 1]:
            pairs.append((rows[i], columns[j]))
            i += 1
            j += 1
        elif best[i][j] == best[i + 1][j]:
            pairs.append((rows[i], None))
            i += 1
        else:
            pairs.append((None, columns[j]))
            j += 1
    pairs.extend((rows[index], None) for index in range(i, height))
    pairs.extend((None, columns[index]) for index in range(j, width))
    return pairs


_NUMBER_IN_FORMULA = re.compile(r"\d+(?:\.\d+)?")


def _formula_change(old: str, new: str) -> tuple[float, str]:
    """Classify how formula `old` of the reference became `new`; return (weight, description)."""
    old_kinds = relation_chain(old).kinds
    new_kinds = relation_chain(new).kinds
    if len(old_kinds) == len(new_kinds) and old_kinds != new_kinds:
        reversed_pairs = [
            (before, after) for before, after in zip(old_kinds, new_kinds)
            if before != after and REVERSED_KIND.get(before) == after
        ]
        if reversed_pairs:
            before, after = reversed_pairs[0]
            return 0.85, f"relation reversed from '{before}' to '{after}': `{_short(new)}`"
        return 0.6, f"relation changed: `{_short(old)}` became `{_short(new)}`"
    if old.replace("-", "+") == new.replace("-", "+"):
        return 0.75, f"sign changed: `{_short(old)}` became `{_short(new)}`"
    tags = {tag for tag, *_ in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()}
    if tags <= {"equal", "delete"}:
        return 0.45, f"part of the formula was removed: `{_short(old)}` became `{_short(new)}`"
    if Counter(_NUMBER_IN_FORMULA.findall(old)) != Counter(_NUMBER_IN_FORMULA.findall(new)):
        return 0.7, f"number changed: `{_short(old)}` became `{_short(new)}`"
    return 0.5, f"formula changed: `{_short(old)}` became `{_short(new)}`"


def _without(items: Sequence[str], remove: Counter[str]) -> list[str]:
    left = Counter(remove)
    remaining = []
    for item in items:
        if left[item] > 0:
            left[item] -= 1
        else:
            remaining.append(item)
    return remaining


def _compare_pair(reference: _StepView, candidate: _StepView, step: int, reference_step: int) -> list[Finding]:
    """Compare an aligned pair of steps and return what changed in the mathematics."""
    findings: list[Finding] = []
    # Formulas present in both steps, in any order, match; the rest pair up in order.
    common = Counter(reference.formulas) & Counter(candidate.formulas)
    old = _without(reference.formulas, common)
    new = _without(candidate.formulas, common)
    for before, after in zip(old, new):
        weight, message = _formula_change(before, after)
        findings.append(Finding(step, weight, message))
    for before in old[len(new) :]:
        findings.append(Finding(step, 0.45, f"formula `{_short(before)}` of reference step {reference_step} is missing"))
    for after in new[len(old) :]:
        findings.append(Finding(step, 0.3, f"formula `{_short(after)}` is not in reference step {reference_step}"))

    if Counter(reference.numbers) != Counter(candidate.numbers):
        findings.append(Finding(step, 0.6, f"numbers in the text differ from reference step {reference_step}"))
    if Counter(reference.inequality_words) != Counter(candidate.inequality_words):
        swapped = [word for word in candidate.inequality_words if _PROSE_INEQUALITY_WORDS[word] in reference.inequality_words]
        if swapped:
            findings.append(Finding(step, 0.7, f"comparison reversed in words ('{swapped[0]}')"))

    removed = reference.theorems - candidate.theorems
    added = candidate.theorems - reference.theorems
    if removed and added:
        findings.append(Finding(
            step, 0.75, f"cites {', '.join(sorted(added))} where the reference cites {', '.join(sorted(removed))}"
        ))
    elif added:
        findings.append(Finding(step, 0.5, f"cites {', '.join(sorted(added))}, which reference step {reference_step} does not use"))
    elif removed:
        findings.append(Finding(step, 0.3, f"no longer cites {', '.join(sorted(removed))}"))

    if candidate.bare and not reference.bare:
        shorter = len(candidate.words) < 0.85 * len(reference.words) or len(candidate.formulas) < len(reference.formulas)
        shortened = any(_formula_change(before, after)[0] == 0.45 for before, after in zip(old, new))
        if shorter or shortened:
            findings.append(Finding(step, 0.6, "replaces the derivation of the reference step by a bare assertion"))
        else:
            findings.append(Finding(step, 0.35, "asserts as obvious what the reference step derives"))
    if reference.justified and not candidate.justified:
        findings.append(Finding(step, 0.4, f"the justification of reference step {reference_step} is missing"))
    return findings


@dataclass
class ReferenceComparison:
    """Findings of a comparison with the reference proof, and how much of the proof aligned."""

    findings: list[Finding]
    aligned_steps: int
    compared_steps: int

    @property
    def share(self) -> float:
        """The aligned steps as a share of the longer proof."""
        return self.aligned_steps / max(1, self.compared_steps)


def compare_with_reference(
    steps: Sequence[str], reference_steps: Sequence[str], conditions: Sequence[str] = ()
) -> ReferenceComparison:
    """Compare a proof with the reference proof of its problem.

    Catches, in steps aligned with a reference step: reversed or changed relations,
    changed numbers and signs, formulas cut short or dropped, a different theorem
    cited, a derivation replaced by "clearly ...", and a dropped justification. Also
    catches reference steps with no counterpart (a dropped case), new steps with no
    counterpart (weakly), and a step that no longer mentions a hypothesis of the
    question which its reference step mentions. Misses errors in proofs that argue differently from
    the reference (their steps do not align), and flags a correct proof that drops a
    formula or a justification which the reference happens to spell out.
    """
    reference = [_view(step) for step in reference_steps]
    candidate = [_view(step) for step in steps]
    pairs = align_steps(reference, candidate)
    findings: list[Finding] = []
    aligned = 0
    reference_to_candidate: dict[int, int] = {}
    candidate_position = 0  # candidate steps passed so far, to place a dropped step

    for reference_index, candidate_index in pairs:
        if reference_index is not None and candidate_index is not None:
            aligned += 1
            reference_to_candidate[reference_index] = candidate_index
            if reference[reference_index].text != candidate[candidate_index].text:
                findings.extend(_compare_pair(
                    reference[reference_index], candidate[candidate_index], candidate_index + 1, reference_index + 1
                ))
            candidate_position = candidate_index + 1
        elif reference_index is not None:
            step = min(candidate_position + 1, len(steps))
            findings.append(Finding(
                step, 0.6,
                f"reference step {reference_index + 1} ('{_short(reference_steps[reference_index], 50)}') "
                "has no counterpart before this step",
            ))
        else:
            assert candidate_index is not None
            candidate_position = candidate_index + 1
            findings.append(Finding(candidate_index + 1, 0.25, "has no counterpart in the reference proof"))

    for condition in conditions:
        term = condition_term(condition)
        if term is None:
            continue
        for reference_index, candidate_index in reference_to_candidate.items():
            if term.occurs_in(reference_steps[reference_index]) and not term.occurs_in(steps[candidate_index]):
                findings.append(Finding(
                    candidate_index + 1, 0.6,
                    f"no longer uses the hypothesis '{_short(condition, 40)}' that reference step "
                    f"{reference_index + 1} uses",
                ))
    return ReferenceComparison(findings, aligned, max(len(reference), len(candidate)))


# ---------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------


class RuleBasedPreChecker:
    """Pre-check a proof with the heuristics above and combine their findings into a verdict.

    A finding of weight >= `strong_weight`, or findings whose combined weight
    1 - prod(1 - w) reaches `combined_weight`, make the verdict "incorrect". With
    no such evidence the verdict is "correct" when the proof follows the reference
    proof (at least `min_aligned_share` of its steps align), else "unsure". A proof
    that argues differently from the reference gets half weight for the differences
    the comparison finds. The confidence is the combined weight for "incorrect", a
    value that grows with the aligned share for "correct", and 0.0 for "unsure" (no
    evidence either way).
    """

    name = CHECKER_NAME

    def __init__(
        self, *, strong_weight: float = 0.5, combined_weight: float = 0.6, min_aligned_share: float = 0.5
    ) -> None:
        self.strong_weight = strong_weight
        self.combined_weight = combined_weight
        self.min_aligned_share = min_aligned_share

    def check(self, triplet: Triplet, problem: Problem | None = None) -> Check:
        """Check a triplet's proof; only its question and steps are read."""
        return self.check_proof(triplet.question, list(triplet.steps), problem)

    def check_proof(self, question: str, steps: Sequence[str], problem: Problem | None = None) -> Check:
        """Check a proof given as steps against `question` and, if given, the problem's reference."""
        findings = [
            *find_false_relations(steps),
            *find_circular_steps(question, steps),
            *find_generalization(steps),
            *find_wrong_mean_direction(steps),
        ]
        comparison = None
        if problem is not None and problem.reference_steps:
            comparison = compare_with_reference(steps, problem.reference_steps, problem_conditions(problem))
            if comparison.share >= self.min_aligned_share:
                findings.extend(comparison.findings)
            else:
                # A proof that argues differently from the reference: its differences are weak evidence.
                findings.extend(Finding(f.step, f.weight / 2, f.message) for f in comparison.findings)
                findings.extend(find_bare_assertions(steps))
        else:
            findings.extend(find_bare_assertions(steps))

        combined = 1.0 - math.prod(1.0 - finding.weight for finding in findings)
        strongest = max((finding.weight for finding in findings), default=0.0)
        if strongest >= self.strong_weight or combined >= self.combined_weight:
            flagged = sorted({finding.step for finding in findings if finding.weight >= 0.3})
            return Check(
                verdict="incorrect",
                rationale=self._rationale(findings),
                checker=self.name,
                flagged_steps=flagged,
                confidence=round(min(0.99, combined), 3),
            )

        if comparison is None or comparison.share < self.min_aligned_share:
            if comparison is None:
                rationale = "no reference proof to compare against and no decisive finding"
            else:
                rationale = (
                    f"only {comparison.aligned_steps} of {comparison.compared_steps} steps align with the "
                    "reference proof, so it cannot confirm the proof; no decisive finding"
                )
            if findings:
                rationale += "; weak findings: " + self._rationale(findings)
            return Check(verdict="unsure", rationale=rationale, checker=self.name, confidence=0.0)

        confidence = (0.4 + 0.5 * comparison.share) * (1.0 - combined)
        rationale = f"no decisive finding; {comparison.aligned_steps} of {comparison.compared_steps} steps align with the reference proof"
        if findings:
            rationale += "; weak findings: " + self._rationale(findings)
        return Check(
            verdict="correct", rationale=rationale, checker=self.name, confidence=round(max(0.05, confidence), 3)
        )

    @staticmethod
    def _rationale(findings: Sequence[Finding]) -> str:
        ordered = sorted(findings, key=lambda finding: (finding.step, -finding.weight))
        return "; ".join(f"step {finding.step}: {finding.message}" for finding in ordered)


def precheck_all(
    triplets: Sequence[Triplet],
    problems_by_id: Mapping[str, Problem],
    checker: RuleBasedPreChecker | None = None,
    *,
    progress: bool = False,
) -> list[Triplet]:
    """Return copies of `triplets` with `check` set by `checker` (a new RuleBasedPreChecker by default).

    A triplet whose problem is missing from `problems_by_id` is checked without a
    reference proof.
    """
    checker = checker or RuleBasedPreChecker()
    checked = []
    verdicts: Counter[str] = Counter()
    for triplet in tqdm(triplets, desc="pre-checking proofs", unit="proof", disable=not progress):
        check = checker.check(triplet, problems_by_id.get(triplet.problem_id))
        verdicts[check.verdict] += 1
        checked.append(triplet.model_copy(update={"check": check}, deep=True))
    logger.info("pre-checked %d proofs with %s: %s", len(checked), checker.name, dict(sorted(verdicts.items())))
    return checked
