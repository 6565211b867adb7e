"""Fuzzing surrogate-spec strings: labels, options, separators (issue 24, point 5).

Any string either parses into a spec that round-trips through its label and has
a path-safe file stem, or raises one ``ValueError`` line; distinct specs get
distinct stems. Bounded: a few hundred small strings, about 10 s.
"""

from __future__ import annotations

import re

from conftest import deadline
from hypothesis import given, settings
from hypothesis import strategies as st

from adali_plugins.compare.spec import STEM_LENGTH, parse_surrogate

SAFE_STEM = re.compile(r"[A-Za-z][A-Za-z0-9._+-]*", re.ASCII)

NAMES = ["AdaLi", "AdaLi", "atan", "fast_sigmoid", "ATan", "x_a", "ESG", "../a"]
KEYS = ["p", "left", "left_final", "calibrate", "coverage", "schedule", "a_b", "a"]
VALUES = [
    "1",
    "0.5",
    "2",
    "both",
    "mass",
    "abc",
    "x/y",
    "a=b",
    "a-b",
    "a_b",
    "nan",
    "inf",
    "1e-5",
    "-1",
    "linear_lagfree",
    "sqrt",
    "",
    " 0.9 ",
]
PIECES = "Aa_1-./:=, \\\x00é"


def mostly(known: list[str], size: int) -> st.SearchStrategy[str]:
    """A known piece three times in four, else a short string of odd pieces."""
    return st.one_of(*[st.sampled_from(known)] * 3, st.text(PIECES, max_size=size))


names = mostly(NAMES, 6)
keys = mostly([*KEYS, "", " p"], 5)
values = mostly(VALUES, 6)
options = st.lists(
    st.tuples(keys, st.sampled_from(["="] * 8 + ["", "=="]), values), max_size=3
)


@st.composite
def spec_strings(draw: st.DrawFn) -> str:
    """Strings shaped like ``name:key=value,...`` with faults mixed in."""
    name = draw(names)
    opts = draw(options)
    if not opts and draw(st.booleans()):
        return name
    sep = draw(st.sampled_from([","] * 8 + [", ", ",,", ";", ":"]))
    body = sep.join(f"{k}{eq}{v}" for k, eq, v in opts)
    return f"{name}{draw(st.sampled_from([':'] * 8 + ['', '::']))}{body}"


any_string = spec_strings() | st.text(max_size=40)

EXAMPLES = {"one": 300, "many": 100}
"""Examples per property: strings in the first, lists of 2-12 in the second."""


def parse_or_one_line(text: str):
    """The spec, or None after checking the refusal is one ``ValueError`` line."""
    try:
        with deadline(5.0):
            return parse_surrogate(text)
    except ValueError as err:
        message = str(err)
        assert message and "\n" not in message and len(message) < 500, message
        return None


@settings(max_examples=EXAMPLES["one"], deadline=None)
@given(text=any_string)
def test_any_string_is_a_valid_spec_or_one_value_error_line(text):
    spec = parse_or_one_line(text)
    if spec is None:
        return
    assert parse_surrogate(spec.label) == spec  # the label says all of it
    stem = spec.stem
    assert SAFE_STEM.fullmatch(stem), stem
    assert len(stem) <= STEM_LENGTH + 17 and stem not in (".", "..")


@settings(max_examples=EXAMPLES["many"], deadline=None)
@given(texts=st.lists(spec_strings(), min_size=2, max_size=12))
def test_distinct_specs_get_distinct_stems(texts):
    specs = {s.label: s for s in map(parse_or_one_line, texts) if s is not None}
    stems = {s.stem for s in specs.values()}
    assert len(stems) == len(specs), sorted(s.label for s in specs.values())


def test_known_collisions_of_the_old_stem_are_apart():
    # each pair shared one checkpoint file before stems were made injective
    for one, two in [
        ("atan:a=1_b-2", "atan:a=1,b=2"),
        ("x_a:b=1", "x:a_b=1"),
        ("AdaLi:calibrate=both,coverage=0.5", "AdaLi:calibrate=both_coverage-0.5"),
    ]:
        a, b = parse_or_one_line(one), parse_or_one_line(two)
        assert a is not None
        assert b is None or a.stem != b.stem
