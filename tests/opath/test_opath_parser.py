"""Parser, lexer and to_text tests (GRAMMAR.md §2-§4, §11, §13)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailwarden.cmdlets.opath import (
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    And,
    BoolValue,
    Comparison,
    IntValue,
    Node,
    Not,
    NullValue,
    Op,
    Or,
    StringValue,
    parse,
    to_text,
)
from mailwarden.errors import FilterSyntaxError, ParameterBindingError


def cmp(prop: str, op: Op, value: StringValue | IntValue | BoolValue | NullValue) -> Comparison:
    return Comparison(prop, op, value)


def s(text: str) -> StringValue:
    return StringValue(text)


def syntax_error(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse(text)
    return info.value


# --- documented filters -------------------------------------------------------------------------------


def test_simple_double_quoted_filter() -> None:
    assert parse("Department -eq 'Sales'") == cmp("Department", Op.EQ, s("Sales"))


def test_like_prefix() -> None:
    assert parse("Alias -like 'sal*'") == cmp("Alias", Op.LIKE, s("sal*"))


def test_not_directly_followed_by_parenthesis() -> None:
    assert parse("(-not(Database -ne $null))") == Not(cmp("Database", Op.NE, NullValue()))


def test_not_covers_whole_comparison_mobile_device_example() -> None:
    # Get-MobileDeviceStatistics: the server receives $true once PowerShell drops the backtick.
    node = parse("HasActiveSyncDevicePartnership -eq $true -and -not DisplayName -like 'CAS_{*'")
    assert node == And(
        cmp("HasActiveSyncDevicePartnership", Op.EQ, BoolValue(True)),
        Not(cmp("DisplayName", Op.LIKE, s("CAS_{*"))),
    )


def test_braces_double_quotes_and_mixed_case_operators_scope13() -> None:
    node = parse('{((City -Eq "Vancouver") -And (Department -Eq "Sales")) -Or (Title -Like "*Manager*")}')
    assert node == Or(
        And(cmp("City", Op.EQ, s("Vancouver")), cmp("Department", Op.EQ, s("Sales"))),
        cmp("Title", Op.LIKE, s("*Manager*")),
    )


def test_doubled_apostrophe() -> None:
    assert parse("displayName -eq 'O''Brien, Laurie L'") == cmp("displayName", Op.EQ, s("O'Brien, Laurie L"))


def test_doubled_double_quote() -> None:
    assert parse('Notes -eq "say ""hi"""') == cmp("Notes", Op.EQ, s('say "hi"'))


def test_double_quoted_value_inside_single_quoted_filter() -> None:
    assert parse('UsageLocation -eq "US"') == cmp("UsageLocation", Op.EQ, s("US"))


def test_integers_plain_negative_and_quoted() -> None:
    assert parse("SCLJunkThresholdInt -ge -2147483645") == cmp(
        "SCLJunkThresholdInt", Op.GE, IntValue(-2147483645)
    )
    assert parse("ExchangeVersion -lt 88218628259840") == cmp(
        "ExchangeVersion", Op.LT, IntValue(88218628259840)
    )
    assert parse("CountryCode -eq '840'") == cmp("CountryCode", Op.EQ, s("840"))


def test_system_values_case_insensitive() -> None:
    assert parse("IsShared -eq $TRUE") == cmp("IsShared", Op.EQ, BoolValue(True))
    assert parse("IsShared -eq $False") == cmp("IsShared", Op.EQ, BoolValue(False))
    assert parse("Manager -eq $NULL") == cmp("Manager", Op.EQ, NullValue())


@pytest.mark.parametrize("op", list(Op))
def test_every_operator_any_case(op: Op) -> None:
    text = f"Name {op.value.upper()} 'x'"
    assert parse(text) == cmp("Name", op, s("x"))


def test_special_characters_inside_quotes() -> None:
    value = "CN=Angela <a@b>, (x) /y {z}: =,"
    assert parse(f"Manager -eq '{value}'") == cmp("Manager", Op.EQ, s(value))


def test_free_whitespace() -> None:
    assert parse("  (\tName   -eq\n'x' )  ") == cmp("Name", Op.EQ, s("x"))


def test_comparison_records_property_position() -> None:
    node = parse("  Name -eq 'x'")
    assert isinstance(node, Comparison)
    assert node.position == 2


# --- precedence ---------------------------------------------------------------------------------------


def test_and_or_equal_precedence_left_to_right() -> None:
    a, b, c = (cmp(p, Op.EQ, s("1")) for p in "abc")
    assert parse("a -eq '1' -or b -eq '1' -and c -eq '1'") == And(Or(a, b), c)
    assert parse("a -eq '1' -and b -eq '1' -or c -eq '1'") == Or(And(a, b), c)


def test_same_operator_run_keeps_operand_order() -> None:
    node = parse("a -eq 1 -and b -eq 2 -and c -eq 3 -and d -eq 4")
    leaves: list[str] = []

    def walk(n: Node) -> None:
        if isinstance(n, Comparison):
            leaves.append(n.prop)
        elif isinstance(n, Not):
            walk(n.operand)
        else:
            assert isinstance(n, And)
            walk(n.left)
            walk(n.right)

    walk(node)
    assert leaves == ["a", "b", "c", "d"]


def test_not_binds_to_parenthesised_group() -> None:
    a, b = cmp("a", Op.EQ, s("1")), cmp("b", Op.EQ, s("1"))
    assert parse("-not (a -eq '1' -or b -eq '1')") == Not(Or(a, b))
    assert parse("-not a -eq '1' -or b -eq '1'") == Or(Not(a), b)
    assert parse("-not -not a -eq '1'") == Not(Not(a))


# --- syntax errors with positions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("(RecipientType -eq 'UserMailbox' -or 'MailUser')", 37),  # OfficeDocs-Support#953
        ("CountryOrRegion -eq AU'", 20),  # §13.12 New-ClientAccessRule typo
        ("Name -eq 'x' -and -RecipientType -eq 'x'", 18),  # §13.12 Remove-RoleGroupMember typo
        ("UPN like '*B*'", 4),  # §13.12 filters-v2 typo
        ("Database -eq 'CN=SystemMailbox", 13),  # §13.12 SystemMailbox"... as PowerShell delivers it
        ("OWAMailboxPolicy -eq 'CN=Default,CN=OWA Mailbox Policies,CN=Contoso", 21),  # unclosed DN
        ("CustomAttribute15 -like *AgencyB*", 24),  # bare word (Exchange 2013 article only)
        ("Department -eq Sales", 15),
        ("", 0),
        ("   ", 0),
        ("Name -eq", 8),
        ("Name 'x'", 5),
        ("-eq 'x'", 0),
        ("Name -eq 'x' -xor Alias -eq 'y'", 13),
        ("Name -match 'x'", 5),
        ("Name -eq 'x')", 12),
        ("(Name -eq 'x'", 13),
        ("Name -eq 'x' Alias -eq 'y'", 13),
        ("Name -eq 'x' -and", 17),
        ("Alias -ne $user", 10),
        ("Alias -ne ", 10),  # "Alias -ne $null" typed in double quotes (Microsoft365DSC#5299)
        ("{Name -eq 'x'", 13),
        ("Name -eq 'x'}", 12),
        ("{}", 1),
        ("Name -eq 5GB", 9),
        ("Name == 'x'", 5),
        ("Name -eq 'x' -and !(Alias -eq 'y')", 18),
        ("Name -eq -", 9),
        ("Name -eq 99999999999999999999", 9),
        ("-not", 4),
    ],
)
def test_syntax_error_positions(text: str, position: int) -> None:
    error = syntax_error(text)
    assert error.position == position, error.reason
    assert error.filter_text == text
    assert f"at position {position + 1}" in error.message
    assert "Invalid filter syntax" in error.message


def test_syntax_error_is_a_parameter_binding_error_naming_the_parameter() -> None:
    with pytest.raises(ParameterBindingError) as info:
        parse("Name -eq", parameter="RecipientFilter")
    assert info.value.parameter == "RecipientFilter"
    assert 'Exception setting "RecipientFilter"' in info.value.message


def test_nesting_limit_is_a_syntax_error_not_recursion_error() -> None:
    deep = "(" * (MAX_DEPTH + 1) + "Name -eq 'x'" + ")" * (MAX_DEPTH + 1)
    assert "nested" in syntax_error(deep).reason
    assert "nested" in syntax_error("-not " * 800 + "Name -eq 'x'").reason


def test_nesting_at_the_limit_is_accepted() -> None:
    text = "(" * MAX_DEPTH + "Name -eq 'x'" + ")" * MAX_DEPTH
    assert parse(text) == cmp("Name", Op.EQ, s("x"))


def test_alternating_chain_depth_limited() -> None:
    chain = "Name -eq 'a'" + "".join(
        f" {'-and' if i % 2 else '-or'} Name -eq 'b'" for i in range(MAX_DEPTH + 2)
    )
    assert "nested" in syntax_error(chain).reason


def test_long_same_operator_chain_is_fine() -> None:
    text = " -or ".join(f"Name -eq '{i}'" for i in range(200))
    assert len(text) < MAX_FILTER_LENGTH
    node = parse(text)
    assert to_text(node).count("-or") == 199


def test_length_limit() -> None:
    text = "Name -eq '" + "x" * MAX_FILTER_LENGTH + "'"
    error = syntax_error(text)
    assert error.position == MAX_FILTER_LENGTH
    assert "longer than" in error.reason


# --- canonical text -----------------------------------------------------------------------------------


def test_to_text_is_exchange_normalised_form() -> None:
    node = parse("HasActiveSyncDevicePartnership -eq $true -and -not DisplayName -like 'CAS_{*'")
    assert (
        to_text(node) == "((HasActiveSyncDevicePartnership -eq $true) -and -not(DisplayName -like 'CAS_{*'))"
    )
    assert to_text(parse('Name -EQ "O\'Brien"')) == "(Name -eq 'O''Brien')"
    assert to_text(parse("x -eq $null -or y -ne -5")) == "((x -eq $null) -or (y -ne -5))"


_props = st.sampled_from(["Name", "City", "c", "CustomAttribute1", "EmailAddresses"])
_values = st.one_of(
    st.text(max_size=12).map(StringValue),
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(IntValue),
    st.booleans().map(BoolValue),
    st.just(NullValue()),
)
_leaves = st.builds(Comparison, _props, st.sampled_from(list(Op)), _values)
_trees: st.SearchStrategy[Node] = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.builds(And, inner, inner),
        st.builds(Or, inner, inner),
        st.builds(Not, inner),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_trees)
def test_to_text_round_trips(node: Node) -> None:
    assert parse(to_text(node)) == node


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_filter_syntax_error(text: str) -> None:
    position: int | None = None
    node: Node | None = None
    try:
        node = parse(text)
    except FilterSyntaxError as error:
        position = error.position
    if node is None:
        assert position is not None
        assert 0 <= position <= len(text)
    else:
        assert parse(to_text(node)) == node
