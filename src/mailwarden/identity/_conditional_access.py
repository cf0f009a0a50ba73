"""Conditional access: named locations and policies evaluated by one pure function.

Modelled on Entra ID conditional access (assignments → conditions → grant controls): a policy is assigned to
users (ids or UPNs), role groups, all users, or apps, and has one control:

* ``require_mfa``  — the sign-in must include a second factor (amr ``otp``, ``hwk`` or ``rc``; RFC 8176 values);
* ``require_phishing_resistant_mfa`` — a WebAuthn authenticator (amr ``hwk``; NIST SP 800-63B §5.2.5 verifier
  impersonation resistance);
* ``block_outside_locations`` — the client IP must be inside one of the policy's named locations (CIDR lists,
  IPv4 and IPv6).

Policies are evaluated in name order; the first one that denies is named in the decision. MFA controls apply
to users only (an app has no second factor); location blocks apply to users and apps. A policy referring to a
location that no longer exists fails closed (the location counts as empty).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ACTIONS",
    "MFA_AMR",
    "AccessDecision",
    "AccessPolicy",
    "AccessSubject",
    "NamedLocation",
    "evaluate_access",
    "parse_networks",
]

Action = Literal["require_mfa", "require_phishing_resistant_mfa", "block_outside_locations"]
ACTIONS: tuple[Action, ...] = ("block_outside_locations", "require_mfa", "require_phishing_resistant_mfa")
MFA_AMR = frozenset({"otp", "hwk", "rc"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parse CIDR strings (host bits must be zero); raises ``ValueError`` naming the bad entry."""
    out: list[Network] = []
    for text in cidrs:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=True))
        except ValueError as exc:
            raise ValueError(f"'{text}' is not a valid CIDR range: {exc}") from None
    return tuple(out)


@dataclass(frozen=True)
class NamedLocation:
    name: str
    networks: tuple[Network, ...]

    def contains(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)


@dataclass(frozen=True)
class AccessPolicy:
    name: str
    action: Action
    all_users: bool = False
    users: frozenset[str] = frozenset()  # user ids or UPNs (lower-case)
    role_groups: frozenset[str] = frozenset()  # role-group names (lower-case)
    apps: frozenset[str] = frozenset()  # app (client) ids; "*" = every app
    locations: tuple[str, ...] = ()  # for block_outside_locations
    enabled: bool = True


@dataclass(frozen=True)
class AccessSubject:
    user_id: str | None = None
    upn: str | None = None
    role_groups: frozenset[str] = field(default_factory=frozenset)
    app_id: str | None = None


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    policy: str | None = None
    reason: str | None = None


_ALLOW = AccessDecision(True)


def _applies(policy: AccessPolicy, subject: AccessSubject) -> bool:
    if subject.user_id is not None:
        if policy.all_users:
            return True
        ids = {subject.user_id.lower(), (subject.upn or "").lower()} - {""}
        if ids & policy.users:
            return True
        if {g.lower() for g in subject.role_groups} & policy.role_groups:
            return True
    if subject.app_id is not None and policy.action == "block_outside_locations":
        return "*" in policy.apps or subject.app_id.lower() in policy.apps
    return False


def _parse_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None


def evaluate_access(
    policies: Iterable[AccessPolicy],
    locations: Mapping[str, NamedLocation],
    subject: AccessSubject,
    amr: Iterable[str],
    ip: str,
) -> AccessDecision:
    """Allow, or deny naming the first denying policy (in name order) and why."""
    methods = frozenset(amr)
    address = _parse_ip(ip)
    for policy in sorted(policies, key=lambda p: p.name.lower()):
        if not policy.enabled or not _applies(policy, subject):
            continue
        if policy.action == "require_mfa" and subject.user_id is not None:
            if not methods & MFA_AMR:
                return AccessDecision(False, policy.name, "multi-factor authentication is required")
        elif policy.action == "require_phishing_resistant_mfa" and subject.user_id is not None:
            if "hwk" not in methods:
                return AccessDecision(False, policy.name, "a phishing-resistant authenticator is required")
        elif policy.action == "block_outside_locations":
            inside = address is not None and any(
                name in locations and locations[name].contains(address) for name in policy.locations
            )
            if not inside:
                return AccessDecision(False, policy.name, "access from this location is blocked")
    return _ALLOW
