"""Typed error injection for the embedded generator: one injector per error type.

Each injector reads a proof: its steps, and the problem's `key_steps`,
`case_steps` and `conditions` metadata where the built-in bank provides it. It
returns candidate edits, and the generator picks one with its seeded random
state. An edit records the erroneous steps in the numbering of the edited proof.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.proofs.mathtext import (
    BARE_ASSERTION,
    INEQUALITY_KINDS,
    PLACEHOLDER,
    REVERSED_SYMBOL,
    THEOREMS,
    Chain,
    MaskedText,
    MathSpan,
    Theorem,
    assumable_claim,
    chain_checks,
    check_relation,
    condition_term,
    extract_claim,
    find_math,
    mask_math,
    problem_conditions,
    relation_chain,
    split_sentences,
)
from components.proofs.rewording import capitalize, continues_list, decapitalize, fix_articles, split_end, tidy
from components.proofs.schema import ErrorType, Problem

# ---------------------------------------------------------------------------
# Reading a proof for error injection
# ---------------------------------------------------------------------------

_CASE_START = re.compile(
    r"^\s*(?:\*\*)?(?:case\b|subcase\b|in the (?:first|second|third|other|remaining) case"
    r"|otherwise\b|if\b[^.;]*\b(?:is|are)\s+(?:even|odd|positive|negative|zero|prime|composite)\b"
    r"|when\b[^.;]*\b(?:is|are)\s+(?:even|odd|positive|negative|zero)\b"
    r"|suppose\b[^.;]*\b(?:is|are)\s+(?:even|odd)\b|for (?:even|odd)\b)",
    re.IGNORECASE,
)
_EXAMPLE_TAIL = re.compile(r"[;,]\s*(?:for example|for instance|e\.g\.)\b.*$", re.IGNORECASE | re.DOTALL)
_CLOSING_TAIL = re.compile(
    r",?\s*(?:as required|as desired|as claimed|which completes the (?:proof|induction)|and we are done)\s*$",
    re.IGNORECASE,
)
_CONCLUSION_PATTERNS = (
    re.compile(
        r"^.*?(?:^|,\s*|;\s*|\s)(?:and\s+)?(?:so|hence|thus|therefore|consequently)\b(?!\s+that),?\s+"
        r"(?:we (?:get|obtain|have|see that|conclude that)\s+)?(?P<c>.+)$",
        re.IGNORECASE | re.DOTALL,
    ),
    re.compile(r"^.*\b(?:which|this|that) (?:gives|yields|shows that|implies that|means that)\s+(?P<c>.+)$",
               re.IGNORECASE | re.DOTALL),
    re.compile(r"^.*\b(?:we (?:get|obtain|find|see that|conclude that)|it follows that|gives|yields)\s+(?P<c>.+)$",
               re.IGNORECASE | re.DOTALL),
    re.compile(r"^(?:since|because|as|given that)\s+[^,]+,\s*(?P<c>.+)$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^by\s+[^,]+,\s*(?P<c>.+)$", re.IGNORECASE | re.DOTALL),
    re.compile(
        r"^(?:expanding|adding|substituting|simplifying|multiplying|subtracting|dividing|factoring|factor"
        r"|squaring|computing|rewriting|regrouping|regroup|solving|combining|applying|using)\b[^,:]*[,:]\s*(?P<c>.+)$",
        re.IGNORECASE | re.DOTALL,
    ),
    re.compile(r"^(?P<c>.+?),?\s+(?:since|because|by)\s+.+$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^(?:then|now|we have|note that|in particular)\b,?\s+(?P<c>.+)$", re.IGNORECASE | re.DOTALL),
)


_TRAILING_REASON = re.compile(r",?\s+(?:since|because)\s+[^,;]*$", re.IGNORECASE)


def _collapse_chain(span: MathSpan, source: str) -> str | None:
    """Return the formula with a chain `A = B = C` cut to its ends (`A = C`), or None."""
    chain = relation_chain(span.content)
    if len(chain.symbols) < 2:
        return None
    kinds = chain.kinds
    inequalities = [kind for kind in kinds if kind in INEQUALITY_KINDS]
    if any(kind not in INEQUALITY_KINDS and kind != "=" for kind in kinds):
        return None
    if inequalities and len({kind[0] for kind in inequalities}) > 1:
        return None
    symbol = next((chain.symbols[i] for i, kind in enumerate(kinds) if kind in INEQUALITY_KINDS), chain.symbols[0])
    content = f"{chain.members[0].strip()} {symbol} {chain.members[-1].strip()}"
    prefix = source[span.start : span.content_start]
    suffix = source[span.content_start + len(span.content) : span.end]
    return prefix + content + suffix


_SUBJECT_WORDS = frozenset(
    "the a an we it this these there its their each every both all one some any no our".split()
)


def _lacks_subject(body: str, match: re.Match[str]) -> bool:
    """Return whether a conclusion after "and hence" shares the subject of the clause before it.

    In "$q$ divides $a$ and therefore divides $b$" the part after "therefore" has no
    subject of its own, so it cannot stand alone.
    """
    if not re.search(r"\band\s+\w+\W*$", body[: match.start("c")]):
        return False
    first = match.group("c").split()[0]
    return not PLACEHOLDER.match(first) and first.lower() not in _SUBJECT_WORDS


def extract_conclusion(text: str) -> tuple[str, bool] | None:
    """Return what a step concludes, without its justification, and whether a chain was cut.

    "Since $x > 0$, both sides are positive." -> "both sides are positive";
    "Then $n^2 = 4k^2 + 4k + 1 = 4k(k+1) + 1$." -> "$n^2 = 4k(k+1) + 1$". Example
    tails ("; for example, ...") are dropped. Returns None when the step has no
    justification or chain to remove, or when what it would remove is shorter than
    three words and no chain was cut.
    """
    masked = mask_math(text)
    sentences = split_sentences(masked.masked)
    if not sentences:
        return None
    body, _ = split_end(sentences[-1])
    body = _EXAMPLE_TAIL.sub("", body)
    body = _CLOSING_TAIL.sub("", body).strip()

    conclusion = None
    for pattern in _CONCLUSION_PATTERNS:
        match = pattern.match(body)
        if match and match.group("c").strip() and not _lacks_subject(body, match):
            conclusion = match.group("c").strip().rstrip(",;")
            break
    if conclusion is not None:
        # "X, since Y" left over after "As Z, X, since Y": keep only X.
        conclusion = _TRAILING_REASON.sub("", conclusion).strip() or conclusion
    replacements = {}
    for found in PLACEHOLDER.finditer(conclusion or body):
        index = int(found.group(1))
        collapsed = _collapse_chain(masked.formula(index), text)
        if collapsed is not None:
            replacements[index] = collapsed
    if conclusion is None:
        if not replacements:
            return None
        conclusion = body
    removed_words = len(masked.masked.split()) - len(conclusion.split())
    if not replacements and removed_words < 3:
        return None
    if not PLACEHOLDER.search(conclusion) and len(conclusion.split()) < 3:
        return None
    return masked.unmask(conclusion, replacements), bool(replacements)


def _case_prefix(text: str) -> str:
    """Return the first sentence of a step when it only names a case ("Case 1: $n$ is even.")."""
    masked = mask_math(text)
    sentences = split_sentences(masked.masked)
    if len(sentences) > 1 and _CASE_START.match(sentences[0]) and len(sentences[0].split()) <= 10:
        return masked.unmask(sentences[0]) + " "
    return ""


def key_step_indices(problem: Problem, steps: Sequence[str]) -> list[int]:
    """Return 0-based key steps: metadata `key_steps`, else the two longest middle steps."""
    listed = problem.metadata.get("key_steps") or []
    indices = [number - 1 for number in listed if isinstance(number, int) and 1 <= number <= len(steps)]
    if indices:
        return indices
    middle = list(range(1, len(steps) - 1)) if len(steps) >= 3 else list(range(len(steps)))
    return sorted(sorted(middle, key=lambda index: (-len(steps[index]), index))[:2])


def _case_step_indices(problem: Problem, steps: Sequence[str]) -> list[int]:
    """Return 0-based steps that each handle one case: metadata `case_steps` joined with detected ones."""
    listed = problem.metadata.get("case_steps") or []
    indices = {number - 1 for number in listed if isinstance(number, int) and 1 <= number <= len(steps)}
    for index, step in enumerate(steps):
        if _CASE_START.match(mask_math(step).masked):
            indices.add(index)
    return sorted(indices)


# ---------------------------------------------------------------------------
# Error injection
# ---------------------------------------------------------------------------


@dataclass
class Edit:
    """An erroneous proof: its steps, the 1-based error steps, and a description of the edit."""

    steps: list[str]
    error_steps: list[int]
    description: str
    rewritten: list[int] = field(default_factory=list)  # 1-based steps whose text the edit rewrote
    question: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Candidate:
    """One place where an error can be injected; `apply` builds the edit or returns None."""

    tier: int
    apply: Callable[[random.Random], Edit | None]


def _replace_step(steps: Sequence[str], index: int, text: str) -> list[str]:
    new_steps = list(steps)
    new_steps[index] = text
    return new_steps


_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d])")


def _in_subscript(text: str, position: int) -> bool:
    before = text[:position]
    return before.endswith("_") or re.search(r"_\{[^{}]*$", before) is not None


def _number_alternatives(number: str, rng: random.Random) -> list[str]:
    if "." in number:
        whole, decimals = number.split(".")
        last = int(decimals[-1])
        return [f"{whole}.{decimals[:-1]}{(last + step) % 10}" for step in (1, 2, 7)]
    value = int(number)
    options = [value + 1, value - 1, value + 2, value - 2, value + 10, value * 2]
    if len(number) >= 2 and number[-1] != number[-2]:
        options.append(int(number[:-2] + number[-1] + number[-2]))
    options = [option for option in options if option >= 0 and option != value]
    rng.shuffle(options)
    return [str(option) for option in options]


def _neighbour_relations(chain: Chain, member: int) -> list[int]:
    """Return the indices of the relations on either side of a chain member."""
    return [index for index in (member - 1, member) if 0 <= index < len(chain.symbols)]


def _statuses_after(chain: Chain, member: int, new_member: str, relations: list[int], latex: bool) -> list[str]:
    members = list(chain.members)
    members[member] = new_member
    return [
        check_relation(members[index], chain.symbols[index], members[index + 1], modulus=chain.modulus, latex=latex).status
        for index in relations
    ]


def _broken(before: str, after: str) -> bool:
    return (before, after) in {("true", "false"), ("identity", "not_identity")}


def _computational_slip(problem: Problem, steps: Sequence[str]) -> list[Candidate]:
    """Change a number in an explicit computation so that the computation becomes false.

    Prefers the result of a numeric computation ("$9 + 16 = 25$" -> "$= 26$"), then
    a number inside one, then a coefficient of an identity ("$4k^2 + 4k + 1$"), and
    last any number in an equation whose truth cannot be evaluated.
    """
    candidates = []
    for index, step in enumerate(steps):
        for span in find_math(step):
            chain = relation_chain(span.content)
            if not chain.symbols:
                continue
            checks = chain_checks(chain, latex=span.latex)
            for member_index, member in enumerate(chain.members):
                relations = _neighbour_relations(chain, member_index)
                verifiable = [r for r in relations if checks[r].status in ("true", "identity")]
                numeric = bool(verifiable) and all(checks[r].status == "true" for r in verifiable)
                for number in _NUMBER.finditer(member):
                    if _in_subscript(member, number.start()):
                        continue
                    whole = member.strip() == number.group()
                    if verifiable and numeric:
                        tier = 0 if whole else 1
                    elif verifiable:
                        tier = 2
                    elif "=" in chain.kinds:
                        tier = 3
                    else:
                        continue
                    start = span.content_start + chain.member_offsets[member_index] + number.start()
                    candidates.append(Candidate(tier, _slip_applier(
                        steps, index, span, chain, member_index, number, start, verifiable, checks
                    )))
    return candidates


def _slip_applier(steps, index, span, chain, member_index, number, start, verifiable, checks):
    def apply(rng: random.Random) -> Edit | None:
        member = chain.members[member_index]
        for alternative in _number_alternatives(number.group(), rng):
            new_member = member[: number.start()] + alternative + member[number.end() :]
            statuses = _statuses_after(chain, member_index, new_member, verifiable, span.latex)
            if all(_broken(checks[r].status, status) for r, status in zip(verifiable, statuses)):
                step = steps[index]
                new_step = step[:start] + alternative + step[start + len(number.group()) :]
                formula = _short_formula(span.content)
                return Edit(
                    _replace_step(steps, index, new_step), [index + 1],
                    f"changed {number.group()} to {alternative} in `{formula}` of step {index + 1}",
                    [index + 1],
                )
        return None

    return apply


def _short_formula(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_VALUE_BEFORE = re.compile(r"[A-Za-z0-9)}\]|!]$")
_OPERATOR_COMMANDS = frozenset(
    {"cdot", "times", "div", "le", "leq", "ge", "geq", "neq", "ne", "equiv", "pm", "mp", "quad", "qquad",
     "left", "in", "to", "implies", "iff", "mid", "nmid", "lt", "gt", "approx", "sim", "setminus", "cup", "cap"}
)


def _binary_sign_positions(formula: str) -> list[int]:
    """Return offsets of `+` and `-` used as binary operators outside subscripts."""
    positions = []
    for match in re.finditer(r"[+\-−]", formula):
        before = formula[: match.start()].rstrip()
        if not before or not _VALUE_BEFORE.search(before) or _in_subscript(formula, match.start()):
            continue
        command = re.search(r"\\([A-Za-z]+)$", before)
        if command and command.group(1) in _OPERATOR_COMMANDS:
            continue
        positions.append(match.start())
    return positions


def _sign_error(problem: Problem, steps: Sequence[str]) -> list[Candidate]:
    """Flip a binary + into - (or back) in a formula, so that the relation it sits in becomes false."""
    candidates = []
    for index, step in enumerate(steps):
        for span in find_math(step):
            chain = relation_chain(span.content)
            checks = chain_checks(chain, latex=span.latex) if chain.symbols else []
            for position in _binary_sign_positions(span.content):
                member_index = chain.member_index(position)
                if member_index is None:
                    continue
                relations = _neighbour_relations(chain, member_index)
                verifiable = [r for r in relations if checks[r].status in ("true", "identity")]
                if verifiable:
                    tier = 0 if all(checks[r].status == "true" for r in verifiable) else 1
                else:
                    tier = 2 if chain.symbols else 3
                candidates.append(Candidate(tier, _sign_applier(
                    steps, index, span, chain, member_index, position, verifiable, checks
                )))
    return candidates


def _sign_applier(steps, index, span, chain, member_index, position, verifiable, checks):
    def apply(rng: random.Random) -> Edit | None:
        old = span.content[position]
        new = "-" if old == "+" else "+"
        offset = position - chain.member_offsets[member_index]
        member = chain.members[member_index]
        new_member = member[:offset] + new + member[offset + 1 :]
        statuses = _statuses_after(chain, member_index, new_member, verifiable, span.latex)
        if not all(_broken(checks[r].status, status) for r, status in zip(verifiable, statuses)):
            return None
        start = span.content_start + position
        step = steps[index]
        new_step = step[:start] + new + step[start + 1 :]
        return Edit(
            _replace_step(steps, index, new_step), [index + 1],
            f"flipped '{old}' to '{new}' in `{_short_formula(span.content)}` of step {index + 1}",
            [index + 1],
        )

    return apply


_PROSE_COMPARISONS = {
    "at least": "at most", "at most": "at least", "greater than": "less than", "less than": "greater than",
    "larger than": "smaller than", "smaller than": "larger than",
}
_PROSE_COMPARISON = re.compile(r"\b(?:" + "|".join(map(re.escape, _PROSE_COMPARISONS)) + r")\b")


def _reversed_inequality(problem: Problem, steps: Sequence[str]) -> list[Candidate]:
    """Reverse an inequality sign in a formula ("\\le" -> "\\ge"), or "at least" -> "at most" in prose.

    A numeric inequality is reversed only when it then becomes false (not "$1 \\le 1$").
    """
    candidates = []
    for index, step in enumerate(steps):
        for span in find_math(step):
            chain = relation_chain(span.content)
            checks = chain_checks(chain, latex=span.latex) if chain.symbols else []
            for relation, kind in enumerate(chain.kinds):
                if kind not in INEQUALITY_KINDS:
                    continue
                tier = 0 if checks[relation].status == "true" else 1
                candidates.append(Candidate(tier, _reverse_applier(steps, index, span, chain, relation, checks)))
        masked = mask_math(step)
        for match in _PROSE_COMPARISON.finditer(masked.masked):
            candidates.append(Candidate(2, _prose_reverse_applier(steps, index, masked, match)))
    return candidates


def _reverse_applier(steps, index, span, chain, relation, checks):
    def apply(rng: random.Random) -> Edit | None:
        symbol = chain.symbols[relation]
        reversed_symbol = REVERSED_SYMBOL[symbol]
        if checks[relation].status == "true":
            after = check_relation(
                chain.members[relation], reversed_symbol, chain.members[relation + 1], latex=span.latex
            ).status
            if after != "false":
                return None
        start = span.content_start + chain.symbol_offsets[relation]
        step = steps[index]
        new_step = step[:start] + reversed_symbol + step[start + len(symbol) :]
        return Edit(
            _replace_step(steps, index, new_step), [index + 1],
            f"reversed '{symbol}' to '{reversed_symbol}' in `{_short_formula(span.content)}` of step {index + 1}",
            [index + 1],
        )

    return apply


def _prose_reverse_applier(steps, index, masked: MaskedText, match: re.Match[str]):
    def apply(rng: random.Random) -> Edit | None:
        replacement = _PROSE_COMPARISONS[match.group()]
        text = masked.masked[: match.start()] + replacement + masked.masked[match.end() :]
        return Edit(
            _replace_step(steps, index, masked.unmask(text)), [index + 1],
            f"replaced '{match.group()}' by '{replacement}' in step {index + 1}",
            [index + 1],
        )

    return apply


_BARE_TEMPLATES = ("Clearly, {}.", "It is obvious that {}.", "Obviously, {}.")


def _unjustified_claim(problem: Problem, steps: Sequence[str]) -> list[Candidate]:
    """Replace the derivation of a step by a bare assertion of its conclusion ("Clearly, ...")."""
    keys = set(key_step_indices(problem, steps))
    candidates = []
    for index, step in enumerate(steps):
        if BARE_ASSERTION.search(step):
            continue
        conclusion = extract_conclusion(step)
        if conclusion is None:
            continue
        if index in keys:
            tier = 0
        elif index == len(steps) - 1:
            tier = 2
        else:
            tier = 1
        candidates.append(Candidate(tier, _bare_applier(steps, index, conclusion[0])))
    return candidates


def _bare_applier(steps, index, conclusion):
    def apply(rng: random.Random) -> Edit | None:
        template = rng.choice(_BARE_TEMPLATES)
        new_step = _case_prefix(steps[index]) + template.format(decapitalize(conclusion))
        if new_step == steps[index]:
            return None
        return Edit(
            _replace_step(steps, index, new_step), [index + 1],
            f"replaced the derivation of step {index + 1} by a bare assertion of its conclusion",
            [index + 1],
        )

    return apply


def _skipped_case(problem: Problem, steps: Sequence[str]) -> list[Candidate]:
    """Drop one case of a case analysis: a whole case step, else one case sentence inside a step.

    The error step is the step that now follows the gap (where the analysis goes on
    as if every case had been handled), or the step before it when the dropped case
    was last.
    """
    candidates = []
    case_steps = _case_step_indices(problem, steps)
    if len(case_steps) >= 2 and len(steps) >= 2:
        for index in case_steps:
            candidates.append(Candidate(0, _drop_step_applier(steps, index)))
    for index, step in enumerate(steps):
        masked = mask_math(step)
        sentences = split_sentences(masked.masked)
        case_sentences = [i for i, sentence in enumerate(sentences) if _CASE_START.match(sentence)]
        if len(case_sentences) >= 2:
            for sentence_index in case_sentences:
                candidates.append(Candidate(1, _drop_sentence_applier(steps, index, masked, sentences, sentence_index)))
    return candidates


def _drop_step_applier(steps, index):
    def apply(rng: random.Random) -> Edit | None:
        new_steps = [step for i, step in enumerate(steps) if i != index]
        error_step = index + 1 if index < len(new_steps) else len(new_steps)
        return Edit(new_steps, [error_step], f"dropped the case of step {index + 1}", [], params={"dropped_step": index + 1})

    return apply


def _drop_sentence_applier(steps, index, masked, sentences, sentence_index):
    def apply(rng: random.Random) -> Edit | None:
        # A case sentence runs until the next case sentence starts.
        end = sentence_index + 1
        while end < len(sentences) and not _CASE_START.match(sentences[end]):
            end += 1
        remaining = sentences[:sentence_index] + sentences[end:]
        if not remaining:
            return None
        new_step = masked.unmask(" ".join(remaining))
        return Edit(
            _replace_step(steps, index, new_step), [index + 1],
            f"dropped a case from step {index + 1}", [index + 1],
        )

    return apply


_CIRCULAR_TEMPLATES = (
    "Since {claim}, it follows that {conclusion}.",
    "Assume that {claim}. Then {conclusion}.",
    "Using the statement to be proved, namely that {claim}, we see that {conclusion}.",
)


def _normalized(text: str) -> str:
    return " ".join(text.replace("$", " ").lower().split())


def _circular_reasoning(problem: Problem, steps: Sequence[str]) -> list[Candidate]:
    """Replace the reason of a middle step by the claim itself ("Since <claim>, we obtain ...")."""
    claim = assumable_claim(problem.question)
    if claim is None and steps:
        found = extract_conclusion(steps[-1])
        claim = found[0] if found else None
    if not claim or len(steps) < 2:
        return []
    claim = decapitalize(claim.strip().rstrip("."))
    keys = set(key_step_indices(problem, steps))
    candidates = []
    for index, step in enumerate(steps[:-1]):
        found = extract_conclusion(step)
        if found is not None and _normalized(found[0]) != _normalized(claim):
            tier = 0 if index in keys else 1
            candidates.append(Candidate(tier, _circular_applier(steps, index, claim, found[0])))
        elif found is None:
            candidates.append(Candidate(2, _circular_prefix_applier(steps, index, claim)))
    return candidates


def _circular_applier(steps, index, claim, conclusion):
    def apply(rng: random.Random) -> Edit | None:
        template = rng.choice(_CIRCULAR_TEMPLATES)
        text = template.format(claim=claim, conclusion=decapitalize(conclusion))
        new_step = _case_prefix(steps[index]) + capitalize(text)
        return Edit(
            _replace_step(steps, index, new_step), [index + 1],
            f"justified step {index + 1} by the statement to be proved", [index + 1],
        )

    return apply


def _circular_prefix_applier(steps, index, claim):
    def apply(rng: random.Random) -> Edit | None:
        new_step = f"Assume that {claim}. {steps[index]}"
        return Edit(
            _replace_step(steps, index, new_step), [index + 1],
            f"assumed the statement to be proved in step {index + 1}", [index + 1],
        )

    return apply


_FALLBACK_THEOREMS = (
    "the Pythagorean theorem", "Fermat's little theorem", "the intermediate value theorem",
    "the pigeonhole principle", "Vieta's formulas", "the Chinese remainder theorem",
)
_JUSTIFYING_CLAUSE = re.compile(r"^(?:Since|Because|As|Given that)\s+[^,]+,\s*(?P<rest>.+)$", re.DOTALL)
# "X, since Y." or "X because Y, so Z.": the reason sits after the claim.
_TRAILING_JUSTIFICATION = re.compile(
    r"^(?P<head>.+?),?\s+(?:since|because)\s+(?P<clause>[^,;.]+)(?P<tail>.*)$", re.DOTALL
)


def _misapplied_theorem(problem: Problem, steps: Sequence[str]) -> list[Candidate]:
    """Swap a cited theorem for a wrong one, or apply AM-GM / Cauchy-Schwarz in the wrong direction.

    When the proof cites no theorem, a step justified by "Since ..., ..." gets its
    reason replaced by an unrelated theorem (tier 2).
    """
    candidates = []
    cited = False
    for index, step in enumerate(steps):
        masked = mask_math(step)
        for theorem in THEOREMS:
            for match in theorem.pattern.finditer(masked.masked):
                cited = True
                candidates.append(Candidate(0, _swap_theorem_applier(steps, index, masked, theorem, match)))
                if theorem.name in ("AM-GM inequality", "Cauchy-Schwarz inequality"):
                    for span in find_math(step):
                        chain = relation_chain(span.content)
                        for relation, kind in enumerate(chain.kinds):
                            if kind in INEQUALITY_KINDS:
                                candidates.append(Candidate(1, _wrong_direction_applier(
                                    steps, index, span, chain, relation, theorem
                                )))
    if not cited:
        for index, step in enumerate(steps):
            masked = mask_math(step)
            match = _JUSTIFYING_CLAUSE.match(masked.masked)
            if match and not continues_list(match.group("rest")):
                candidates.append(Candidate(2, _cite_wrong_applier(steps, index, masked, match)))
                continue
            match = _TRAILING_JUSTIFICATION.match(masked.masked)
            if match:
                candidates.append(Candidate(3, _cite_wrong_applier(steps, index, masked, match)))
    return candidates


def _swap_theorem_applier(steps, index, masked: MaskedText, theorem: Theorem, match: re.Match[str]):
    def apply(rng: random.Random) -> Edit | None:
        replacement = rng.choice(theorem.wrong)
        if re.search(r"(?:^|[.!?:]\s*)$", masked.masked[: match.start()]):
            replacement = capitalize(replacement)
        text = masked.masked[: match.start()] + replacement + masked.masked[match.end() :]
        return Edit(
            _replace_step(steps, index, masked.unmask(text)), [index + 1],
            f"replaced '{match.group()}' by '{replacement}' in step {index + 1}",
            [index + 1],
        )

    return apply


def _wrong_direction_applier(steps, index, span, chain, relation, theorem):
    def apply(rng: random.Random) -> Edit | None:
        symbol = chain.symbols[relation]
        start = span.content_start + chain.symbol_offsets[relation]
        step = steps[index]
        new_step = step[:start] + REVERSED_SYMBOL[symbol] + step[start + len(symbol) :]
        return Edit(
            _replace_step(steps, index, new_step), [index + 1],
            f"applied the {theorem.name} in the wrong direction in step {index + 1}",
            [index + 1],
        )

    return apply


def _cite_wrong_applier(steps, index, masked: MaskedText, match: re.Match[str]):
    def apply(rng: random.Random) -> Edit | None:
        theorem = rng.choice(_FALLBACK_THEOREMS)
        if "rest" in match.groupdict():
            text = f"By {theorem}, {match.group('rest')}"
        else:
            text = f"{match.group('head')} by {theorem}{match.group('tail')}"
        return Edit(
            _replace_step(steps, index, masked.unmask(text)), [index + 1],
            f"replaced the reason of step {index + 1} by {theorem}", [index + 1],
        )

    return apply


_NOUN = r"(?P<noun>integers?|natural numbers?|real numbers?|numbers?|reals?|primes?)"
_ADJECTIVES = r"(?P<adj>(?:[\w-]+\s+){0,2}?)"
_QUANTIFIER_PATTERNS = (
    # "for every positive integer $n$", "for all real numbers $x > 0$"
    re.compile(rf"\bfor (?:all|every|each|any)\s+{_ADJECTIVES}{_NOUN}\s*(?P<formula>\ue000\d+\ue001)", re.IGNORECASE),
    # "let $n$ be a positive integer", "if $n$ is an odd integer"
    re.compile(rf"(?P<formula>\ue000\d+\ue001)\s+(?:is|be)\s+(?:a|an)\s+{_ADJECTIVES}{_NOUN}", re.IGNORECASE),
    # "for all $n \ge 1$"
    re.compile(r"\bfor (?:all|every|each|any)\s+(?P<formula>\ue000\d+\ue001)", re.IGNORECASE),
)
_LOWER_BOUND = re.compile(r"^\s*([A-Za-z])\s*(\\geq?|>|≥|>=)\s*(-?\d+)\s*$")
_SETUP_STEP = re.compile(r"^(?:Let|Fix|Write|Denote|Consider)\b")
_SMALL_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


@dataclass(frozen=True)
class QuantifiedVariable:
    """The variable a claim quantifies over and the kind of values it takes."""

    name: str
    first: int
    kind: str  # "integer", "odd", "even", "prime" or "real"

    def values(self, count: int) -> list[int]:
        """Return the `count` smallest admissible values from `first` on."""
        if self.kind == "prime":
            return [value for value in _SMALL_PRIMES if value >= self.first][:count]
        if self.kind in ("odd", "even"):
            start = self.first + ((self.first % 2) != (1 if self.kind == "odd" else 0))
            return [start + 2 * offset for offset in range(count)]
        return [self.first + offset for offset in range(count)]


def quantified_variable(question: str) -> QuantifiedVariable | None:
    """Return the variable that a question quantifies over, or None.

    "for every integer $n \\ge 5$" -> n from 5; "for every nonnegative integer $n$"
    -> n from 0; "if $n$ is an odd integer" -> odd n. Integer variables are
    preferred over real ones ("if $x > -1$ is a real number and $n$ is a positive
    integer" -> n).
    """
    masked = mask_math(question)
    found = []
    for rank, pattern in enumerate(_QUANTIFIER_PATTERNS):
        for match in pattern.finditer(masked.masked):
            groups = match.groupdict()
            noun = (groups.get("noun") or "").lower()
            adjectives = (groups.get("adj") or "").lower()
            content = masked.formula(int(PLACEHOLDER.search(match.group("formula")).group(1))).content.strip()
            bound = _LOWER_BOUND.match(content)
            if bound:
                name, first = bound.group(1), int(bound.group(3)) + (1 if bound.group(2) == ">" else 0)
            elif re.fullmatch(r"[A-Za-z]", content):
                name, first = content, (0 if re.search(r"non-?negative", adjectives) else 1)
            else:
                continue
            if noun.startswith("prime"):
                kind = "prime"
            elif re.search(r"\bodd\b", adjectives):
                kind = "odd"
            elif re.search(r"\beven\b", adjectives):
                kind = "even"
            elif noun.startswith("real") or "real" in adjectives:
                kind = "real"
            else:
                kind = "integer"
            if kind == "real":
                preference = 2
            elif rank == 2:
                preference = 1
            else:
                preference = 0
            found.append((preference, match.start(), QuantifiedVariable(name, first, kind)))
    if not found:
        return None
    variable = min(found, key=lambda item: (item[0], item[1]))[2]
    # A separate hypothesis such as "with $p > 3$" raises the first value.
    for span in masked.spans:
        bound = _LOWER_BOUND.match(span.content)
        if bound and bound.group(1) == variable.name:
            first = int(bound.group(3)) + (1 if bound.group(2) == ">" else 0)
            variable = QuantifiedVariable(variable.name, max(first, variable.first), variable.kind)
    return variable


def _generalization_from_examples(problem: Problem, steps: Sequence[str]) -> list[Candidate]:
    """Replace the general argument by checks of a few small values and "hence it holds for all"."""
    variable = quantified_variable(problem.question)
    if variable is None:
        return []
    claim = extract_claim(problem.question) or "the statement holds"
    return [Candidate(0, _generalization_applier(steps, variable, count, claim)) for count in (3, 4)]


def _generalization_applier(steps, variable: QuantifiedVariable, count, claim):
    def apply(rng: random.Random) -> Edit | None:
        values = [f"${variable.name} = {value}$" for value in variable.values(count)]
        listed = ", ".join(values[:-1]) + f" and {values[-1]}"
        keep_first = len(steps) >= 3 and _SETUP_STEP.match(steps[0]) and "induction" not in steps[0]
        prefix = [steps[0]] if keep_first else []
        checks = rng.choice((
            f"We check small cases: for {listed} the statement can be checked directly.",
            f"We check the first cases {listed}; in each of them the statement holds by direct computation.",
        ))
        conclusion = rng.choice((
            f"Since the statement holds in each of these cases, it holds for all ${variable.name}$, that is, {claim}.",
            f"Hence the statement holds for all ${variable.name}$, which proves that {claim}.",
        ))
        new_steps = [*prefix, checks, conclusion]
        return Edit(
            new_steps, [len(new_steps)],
            f"replaced the general argument by checking {variable.name} = {', '.join(map(str, variable.values(count)))}",
            [len(new_steps) - 1, len(new_steps)],
        )

    return apply


# Weakened forms of hypothesis words; "" drops the word.
_WEAKER_WORD = {
    "positive": "nonzero", "negative": "nonzero", "nonnegative": "", "non-negative": "", "nonzero": "",
    "non-zero": "", "distinct": "", "odd": "", "even": "", "prime": "positive", "coprime": "",
    "acute": "", "obtuse": "", "convex": "", "integer": "real number", "integers": "real numbers", "parallel": "",
    "perpendicular": "", "isosceles": "", "equilateral": "", "finite": "", "rational": "real",
    "irrational": "real", "real": "complex",
}
_WEAKER_RELATION = {">": "\\ge", "<": "\\le", "\\gt": "\\ge", "\\lt": "\\le", "=": "\\le"}


def _weaken_formula(formula_text: str) -> str | None:
    """Return a weaker version of a one-relation hypothesis: '>' -> '\\ge', '\\ge k' -> '\\ge k-1', '>' 0 -> '\\ne 0'."""
    spans = find_math(formula_text)
    if len(spans) != 1:
        return None
    span = spans[0]
    chain = relation_chain(span.content)
    if len(chain.symbols) != 1:
        return None
    symbol, right = chain.symbols[0], chain.members[1].strip()
    kind = chain.kinds[0]
    if kind in (">", "<") and right == "0":
        new_symbol, new_right = "\\ne", right
    elif kind in (">=", "<=") and re.fullmatch(r"-?\d+", right):
        new_symbol, new_right = symbol, str(int(right) - 1 if kind == ">=" else int(right) + 1)
    elif symbol in _WEAKER_RELATION:
        new_symbol, new_right = _WEAKER_RELATION[symbol], right
    elif kind in (">", "<"):
        new_symbol, new_right = ("\\ge" if kind == ">" else "\\le"), right
    else:
        return None
    if not span.latex:
        new_symbol = {"\\ge": ">=", "\\le": "<=", "\\ne": "!="}.get(new_symbol, new_symbol)
    content = f"{chain.members[0].strip()} {new_symbol} {new_right}"
    return formula_text[: span.content_start] + content + formula_text[span.content_start + len(span.content) :]


def _weaken_condition(condition: str) -> str | None:
    """Return a weaker version of a hypothesis phrase, or None when it has no weaker form here."""
    term = condition_term(condition)
    if term is None:
        return None
    if term.kind == "math":
        masked = mask_math(condition)
        for index, span in enumerate(masked.spans):
            weaker = _weaken_formula(condition[span.start : span.end])
            if weaker is not None:
                return masked.unmask(masked.masked, {index: weaker})
        return None
    if term.value not in _WEAKER_WORD:
        return None
    weaker = re.sub(rf"\b{re.escape(term.value)}\b", _WEAKER_WORD[term.value], condition, count=1, flags=re.IGNORECASE)
    return fix_articles(tidy(weaker)) if weaker.strip() else None


_CLAUSE_PATTERNS = (
    # "Since X, Y" -> "Y"
    re.compile(r"^(?:Since|As|Because|Given that)\s+(?P<clause>[^,]+),\s*(?P<rest>.+)$", re.DOTALL),
    # "Y, since X." -> "Y."
    re.compile(r"^(?P<rest_head>.+?),?\s+(?:since|as|because|given that)\s+(?P<clause>[^,.;]+)(?P<rest_tail>.*)$", re.DOTALL),
    # "Y (as X)" -> "Y"
    re.compile(r"^(?P<rest_head>.*?)\s*\((?:since|as|because)\s+(?P<clause>[^)]+)\)(?P<rest_tail>.*)$", re.DOTALL),
)


def _remove_condition_clause(step: str, term) -> str | None:
    """Remove the clause of `step` that invokes a hypothesis ("Since $x > 0$, ..."), or return None."""
    masked = mask_math(step)
    sentences = split_sentences(masked.masked)
    for position, sentence in enumerate(sentences):
        for pattern in _CLAUSE_PATTERNS:
            match = pattern.match(sentence)
            if not match or not term.occurs_in(masked.unmask(match.group("clause"))):
                continue
            if match.groupdict().get("rest") and continues_list(match.group("rest")):
                continue
            if "rest" in match.groupdict() and match.group("rest") is not None:
                new_sentence = capitalize(match.group("rest"))
            else:
                new_sentence = match.group("rest_head") + match.group("rest_tail")
            stripped = new_sentence.strip().rstrip(".")
            if not stripped or (len(stripped.split()) < 2 and not PLACEHOLDER.fullmatch(stripped)):
                continue
            new_sentences = [*sentences[:position], tidy(new_sentence), *sentences[position + 1 :]]
            return masked.unmask(" ".join(new_sentences))
    return None


def _weaken_in_step(step: str, condition: str, weaker: str | None) -> str | None:
    """Replace the mention of a hypothesis in a step by its weaker form, or return None.

    A phrase with a formula must occur verbatim, or its relation formula must (then
    only the formula is weakened). A phrase of words must occur as a whole
    ("positive integer"), so that a lone "integer" elsewhere in the step is not touched.
    """
    if weaker is not None and condition in step:
        return step.replace(condition, weaker, 1)
    term = condition_term(condition)
    if term is None:
        return None
    masked = mask_math(step)
    if term.kind == "math":
        for index, span in enumerate(masked.spans):
            if re.sub(r"\s+", "", span.content) == term.value:
                formula = _weaken_formula(step[span.start : span.end])
                if formula is not None:
                    return masked.unmask(masked.masked, {index: formula})
        return None
    if find_math(condition) or term.value not in _WEAKER_WORD:
        return None
    phrase = r"\s+".join(re.escape(word) for word in condition.split())
    occurrence = re.search(rf"\b{phrase}\b", masked.masked, re.IGNORECASE)
    if occurrence is None:
        return None
    word = re.compile(rf"\b{re.escape(term.value)}\b", re.IGNORECASE)
    weakened = word.sub(_WEAKER_WORD[term.value], occurrence.group(), count=1)
    text = masked.masked[: occurrence.start()] + weakened + masked.masked[occurrence.end() :]
    return masked.unmask(tidy(fix_articles(text)))


def _dropped_condition(problem: Problem, steps: Sequence[str]) -> list[Candidate]:
    """Remove the use of a hypothesis from a step, or weaken it there, and relax it in the question.

    Candidates come from `conditions` in the metadata or from the question. A step
    that invokes the hypothesis in a clause ("since $x > 0$") loses the clause;
    otherwise its mention is replaced by the weaker form ("$x > 0$" -> "$x \\ne 0$",
    "positive" -> "nonzero"). When the phrase occurs in the question, the triplet's
    question states the weaker form, so the proof needs a hypothesis it no longer has.
    """
    candidates = []
    for condition in problem_conditions(problem):
        term = condition_term(condition)
        if term is None:
            continue
        weaker = _weaken_condition(condition)
        for index, step in enumerate(steps):
            if not term.occurs_in(step):
                continue
            removed = _remove_condition_clause(step, term)
            if removed is not None:
                candidates.append(Candidate(0, _condition_applier(problem, steps, index, removed, condition, weaker, "removed")))
                continue
            weakened = _weaken_in_step(step, condition, weaker)
            if weakened is not None:
                candidates.append(Candidate(1, _condition_applier(problem, steps, index, weakened, condition, weaker, "weakened")))
    return candidates


def _condition_applier(problem, steps, index, new_step, condition, weaker, edit_kind):
    def apply(rng: random.Random) -> Edit | None:
        if new_step == steps[index]:
            return None
        question = None
        params: dict[str, Any] = {"condition": condition}
        if weaker is not None and condition in problem.question:
            question = problem.question.replace(condition, weaker, 1)
            params["relaxed_condition"] = weaker
        description = f"{edit_kind} the use of the hypothesis '{condition}' in step {index + 1}"
        if question is not None:
            description += f" and relaxed it to '{weaker}' in the question"
        return Edit(_replace_step(steps, index, new_step), [index + 1], description, [index + 1], question, params)

    return apply


INJECTORS: dict[ErrorType, Callable[[Problem, Sequence[str]], list[Candidate]]] = {
    ErrorType.COMPUTATIONAL_SLIP: _computational_slip,
    ErrorType.SIGN_ERROR: _sign_error,
    ErrorType.UNJUSTIFIED_CLAIM: _unjustified_claim,
    ErrorType.SKIPPED_CASE: _skipped_case,
    ErrorType.CIRCULAR_REASONING: _circular_reasoning,
    ErrorType.MISAPPLIED_THEOREM: _misapplied_theorem,
    ErrorType.GENERALIZATION_FROM_EXAMPLES: _generalization_from_examples,
    ErrorType.DROPPED_CONDITION: _dropped_condition,
    ErrorType.REVERSED_INEQUALITY: _reversed_inequality,
}
