"""The shell's PowerShell-like parser alone: switches, ``-Name:value``, ``$true``/``$false``/``$null``,
numbers, arrays, hashtables, both quote styles, positional arguments, errors with positions."""

from __future__ import annotations

import pytest

from mailwarden.client._shell_syntax import (
    CommandLine,
    ShellSyntaxError,
    parse_command,
    parse_value,
    tokenize_for_completion,
)


def test_filter_and_result_size() -> None:
    line = parse_command("""Get-Mailbox -Filter "Department -eq 'Sales'" -ResultSize Unlimited""")
    assert line == CommandLine("Get-Mailbox", {"Filter": "Department -eq 'Sales'", "ResultSize": "Unlimited"})


def test_switches_colon_values_and_positional() -> None:
    line = parse_command(
        "Set-Mailbox 'Jane O''Neil' -HiddenFromAddressListsEnabled $true -Confirm:$false -WhatIf"
    )
    assert line.positional == ["Jane O'Neil"]
    assert line.params == {"HiddenFromAddressListsEnabled": True, "Confirm": False, "WhatIf": True}


def test_arrays_hashtables_numbers_null() -> None:
    line = parse_command(
        "Set-Mailbox -Identity jane -EmailAddresses @{Add='smtp:a@x.com';Remove=b,\"c d\"} "
        "-ForwardingSmtpAddress $null -IssueWarningQuota 42 -Ratio 1.5 -Rights FullAccess, SendAs -Offset -3"
    )
    assert line.params == {
        "Identity": "jane",
        "EmailAddresses": {"Add": "smtp:a@x.com", "Remove": ["b", "c d"]},
        "ForwardingSmtpAddress": None,
        "IssueWarningQuota": 42,
        "Ratio": 1.5,
        "Rights": ["FullAccess", "SendAs"],
        "Offset": -3,
    }


def test_double_quote_escapes() -> None:
    assert parse_value('"a `"b`" ""c"" $x"') == 'a "b" "c" $x'
    assert parse_value("@(1, 'two')") == [1, "two"]
    assert parse_value("$FALSE") is False
    assert parse_value("") == ""


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("Get-Mailbox -Filter 'open", 20),
        ("Get-Mailbox -Identity a -Identity b", 24),
        ("mailbox", 0),
        ("Set-X @{a}", 9),
    ],
)
def test_errors_name_the_position(text: str, position: int) -> None:
    with pytest.raises(ShellSyntaxError) as info:
        parse_command(text)
    assert info.value.position == position


def test_completion_tokens() -> None:
    assert tokenize_for_completion("Get-Mai") == (None, "Get-Mai", set())
    assert tokenize_for_completion("Get-Mailbox -Identity x -Res") == ("Get-Mailbox", "-Res", {"identity"})
    assert tokenize_for_completion("Get-Mailbox ") == ("Get-Mailbox", "", set())
