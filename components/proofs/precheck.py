"""Rule-based pre-check of proofs.

`RuleBasedPreChecker.check` reads only the question, the proof steps and, when the
problem is given, its reference proof and hypothesis conditions. It never reads how
a triplet was made (label, error type, error steps, method or generator parameters),
so its verdict is evidence that is independent of the construction label.

It reads mathematics in the steps with `components.proofs.mathtext`, the same
reading the embedded generator uses to decide where an edit applies.
"""

from __future__ import annotations

import difflib
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from tqdm import tqdm

from components.proofs.mathtext import (
    BARE_ASSERTION,
    INEQUALITY_KINDS,
    MaskedText,
    Number,
    PLACEHOLDER,
    REVERSED_KIND,
    RelationCheck,
    JUSTIFICATION_WORDS,
    PROSE_INEQUALITY_WORDS,
    STOPWORDS,
    normalize_math,
    assumable_claim,
    chain_checks,
    compare,
    condition_term,
    evaluate,
    extract_claim,
    find_math,
    find_theorems,
    mask_math,
    problem_conditions,
    relation_chain,
    split_sentences,
)
from components.proofs.schema import Check, Problem, Triplet

logger = logging.getLogger(__name__)

CHECKER_NAME = "embedded-precheck-v1"

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
    words = tuple(word for word in re.findall(r"[a-z]+(?:'[a-z]+)?", prose.lower()) if word not in STOPWORDS)
    return _StepView(
        text=step,
        formulas=tuple(normalize_math(span.content) for span in masked.spans),
        words=words,
        numbers=tuple(re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])", prose)),
        theorems=frozenset(theorem.name for theorem, _ in find_theorems(step)),
        bare=BARE_ASSERTION.search(prose) is not None,
        justified=JUSTIFICATION_WORDS.search(prose) is not None,
        inequality_words=tuple(word for word in words if word in PROSE_INEQUALITY_WORDS),
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
        swapped = [word for word in candidate.inequality_words if PROSE_INEQUALITY_WORDS[word] in reference.inequality_words]
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
