"""OPATH ``-Filter`` through real HTTP on real data: Microsoft's documented examples, ``$null``, multi-valued
properties, nested logic, injection attempts as literals, and Exchange's error wording."""

from __future__ import annotations

import pytest

from conftest import Api


@pytest.fixture
def org(api: Api) -> Api:
    people = [
        ("Ann Sales", "ann", "Sales", "Seattle", "Sales Manager"),
        ("Sal Vage", "salvage", "Sales", "Vancouver", "Account Executive"),
        ("Fin Ance", "finance1", "Finance", "Vancouver", "IT Manager"),
        ("Laurie O'Brien", "lobrien", "Legal", "Paris", "Counsel"),
        ("Zoe Zed", "zoe", None, None, None),
    ]
    for name, alias, dept, city, title in people:
        api.ok("New-Mailbox", Name=name, Alias=alias)
        params = {k: v for k, v in {"Department": dept, "City": city, "Title": title}.items() if v}
        if params:
            api.ok("Set-User", Identity=alias, **params)
    api.ok("Set-Mailbox", Identity="ann", EmailAddresses={"Add": ["lila@" + api.tenant.domain]})
    api.ok(
        "Set-Mailbox",
        Identity="zoe",
        ForwardingSmtpAddress="zoe@outside.example",
        HiddenFromAddressListsEnabled=True,
    )
    api.ok("New-Mailbox", Name="Sales Shared", Alias="salesshared", Shared=True)
    api.ok("New-MailContact", Name="Partner", ExternalEmailAddress="partner@fabrikam.example")
    api.ok("New-DistributionGroup", Name="Sales Team", Members=["ann", "salvage"])
    return api


def names(api: Api, cmdlet: str, flt: str) -> set[str]:
    return {o["Name"] for o in api.all(cmdlet, Filter=flt, ResultSize="Unlimited")}


def test_department_on_get_user(org: Api) -> None:
    assert names(org, "Get-User", "Department -eq 'Sales'") == {"Ann Sales", "Sal Vage"}
    assert names(org, "Get-User", "department -EQ 'sales'") == {"Ann Sales", "Sal Vage"}  # case-insensitive


def test_alias_like_prefix(org: Api) -> None:
    assert names(org, "Get-Mailbox", "Alias -like 'sal*'") == {"Sal Vage", "Sales Shared"}
    assert names(org, "Get-Mailbox", "Alias -notlike 'sal*'") == {
        "Ann Sales",
        "Fin Ance",
        "Laurie O'Brien",
        "Zoe Zed",
    }


def test_email_addresses_contains(org: Api) -> None:
    d = org.tenant.domain
    assert names(org, "Get-Mailbox", f"EmailAddresses -eq 'lila@{d}'") == {"Ann Sales"}
    assert names(org, "Get-Mailbox", f"EmailAddresses -eq 'smtp:lila@{d}'") == {"Ann Sales"}
    assert names(org, "Get-Recipient", "EmailAddresses -like 'smtp:sal*'") == {
        "Sal Vage",
        "Sales Shared",
        "Sales Team",
    }
    # The documented prefix rule: without "smtp:" a wildcard pattern does not match an SMTP proxy.
    assert names(org, "Get-Recipient", "EmailAddresses -like 'sal*'") == set()


def test_null_comparisons(org: Api) -> None:
    assert names(org, "Get-Mailbox", "ForwardingSmtpAddress -ne $null") == {"Zoe Zed"}
    assert "Zoe Zed" in names(org, "Get-User", "Department -eq $null")
    assert "Zoe Zed" not in names(org, "Get-User", "Department -ne $null")


def test_booleans_and_enums(org: Api) -> None:
    assert names(org, "Get-Mailbox", "HiddenFromAddressListsEnabled -eq $true") == {"Zoe Zed"}
    assert names(org, "Get-Recipient", "RecipientTypeDetails -eq 'sharedmailbox'") == {"Sales Shared"}
    assert names(org, "Get-Recipient", "RecipientType -eq 'MailContact'") == {"Partner"}


def test_nested_logic_documented_truth_table(org: Api) -> None:
    # EX-SCOPE13: ((City -Eq "Vancouver") -And (Department -Eq "Sales")) -Or (Title -Like "*Manager*")
    flt = '{((City -Eq "Vancouver") -And (Department -Eq "Sales")) -Or (Title -Like "*Manager*")}'
    assert names(org, "Get-User", flt) == {"Sal Vage", "Ann Sales", "Fin Ance"}
    assert names(org, "Get-User", "-not (Department -eq 'Sales') -and City -eq 'Vancouver'") == {"Fin Ance"}
    assert names(org, "Get-Recipient", "(RecipientType -eq 'UserMailbox') -and -not(Alias -like 'sal*')") == {
        "Ann Sales",
        "Fin Ance",
        "Laurie O'Brien",
        "Zoe Zed",
    }


def test_doubled_apostrophe_and_injection_are_literals(org: Api) -> None:
    assert names(org, "Get-Mailbox", "Name -eq 'Laurie O''Brien'") == {"Laurie O'Brien"}
    for attack in (
        "Name -eq 'x'' OR 1=1 --'",
        "Name -eq '%'",
        "Name -like '%_%'",
        "Alias -eq 'ann'' -or ''1''=''1'",
    ):
        assert names(org, "Get-Mailbox", attack) == set(), attack
    assert len(org.all("Get-Mailbox", ResultSize="Unlimited")) == 6  # nothing was dropped or changed


def test_member_of_group(org: Api) -> None:
    assert names(org, "Get-Recipient", "MemberOfGroup -eq 'Sales Team'") == {"Ann Sales", "Sal Vage"}
    assert names(org, "Get-DistributionGroup", "Members -eq 'Sal Vage'") == {"Sales Team"}


def test_syntax_error_names_position(org: Api) -> None:
    err = org.error("Get-Mailbox", 400, Filter="Alias -eq 'x' -and")
    assert err["code"] == "ParameterBindingException"
    assert "Invalid filter syntax" in err["message"]
    assert any(d.get("position") == 18 for d in err["details"])
    err = org.error("Get-Mailbox", 400, Filter="(RecipientType -eq 'UserMailbox' -or 'MailUser')")
    assert "Invalid filter syntax" in err["message"]


def test_unknown_or_undocumented_property_is_named(org: Api) -> None:
    err = org.error("Get-Mailbox", 400, Filter="Colour -eq 'blue'")
    assert '"Colour" is not a recognized filterable property' in err["message"]
    assert "Valid property names are: " in err["message"]
    # Department is filterable on Get-User / Get-Recipient, not on Get-Mailbox (filter-properties.md).
    err = org.error("Get-Mailbox", 400, Filter="Department -eq 'Sales'")
    assert '"Department" is not a recognized filterable property' in err["message"]
    assert names(org, "Get-Recipient", "Department -eq 'Sales'") == {"Ann Sales", "Sal Vage"}


def test_bad_values_are_400(org: Api) -> None:
    for flt in (
        "HiddenFromAddressListsEnabled -eq 'maybe'",
        "RecipientTypeDetails -eq 'Spaceship'",
        "Guid -like 'ab*'",
    ):
        err = org.error("Get-Recipient" if "Recipient" in flt else "Get-Mailbox", 400, Filter=flt)
        assert err["code"] == "ParameterBindingException", flt
