"""Reading mathematics in proof text, shared by the embedded generator and the pre-check.

It finds formula spans (LaTeX `$...$`, `\\(...\\)`, `\\[...\\]`, or formula-like runs in
plain text) and splits them into chains of relations. A safe evaluator over Python's
`ast` decides numeric relations and tests polynomial-style identities. Helpers extract
the claim and the hypotheses of a question and the named theorems a step cites.
"""

from __future__ import annotations

import ast
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

logger = logging.getLogger(__name__)

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
STOPWORDS = frozenset(
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


def normalize_math(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("$", ""))


@dataclass(frozen=True)
class ConditionTerm:
    """The part of a hypothesis phrase whose presence shows that a proof uses it."""

    kind: str  # "math" (a formula, compared without spaces) or "word"
    value: str

    def occurs_in(self, text: str) -> bool:
        if self.kind == "math":
            return self.value in normalize_math(text)
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
            return ConditionTerm("math", normalize_math(formula))
    word = _CONDITION_WORD.search(condition)
    if word:
        return ConditionTerm("word", word.group().lower())
    for formula in formulas:
        if any(ch in formula for ch in "+-*/^"):
            return ConditionTerm("math", normalize_math(formula))
    prose = mask_math(condition).masked
    for candidate in re.findall(r"[A-Za-z][A-Za-z-]{3,}", prose):
        if candidate.lower() not in STOPWORDS:
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
JUSTIFICATION_WORDS = re.compile(r"\b(?:since|because|as|by|using|given|from|applying|follows)\b", re.IGNORECASE)
PROSE_INEQUALITY_WORDS = {"least": "most", "most": "least", "greater": "less", "less": "greater",
                           "larger": "smaller", "smaller": "larger"}
