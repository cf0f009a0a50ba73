"""Exchange RBAC (DESIGN §6): roles, role entries, role groups, assignments, management scopes, the pure
authorisation decision, its enforcement on every cmdlet call, and privileged access with approval (PAM).

Modules: ``_decision`` (pure), ``_seed`` + ``seed/*.json`` (built-in data), ``_seeding`` (per tenant),
``_store`` (snapshots, role groups of a principal), ``_grants``, ``_targets``, ``_enforce`` (executor hooks),
``_rails`` (lock-out protection), handler modules for the cmdlets, ``_pam``, ``_explain``.
"""

from ._decision import RELATIVE_SCOPES, Decision, Grant, Request, ScopeRule, decide
from ._enforce import authorize, install_rbac
from ._errors import InvalidOperationError
from ._membership import add_member, add_principal_to_role_groups, remove_member
from ._seed import load_seed, role_group_name, seed_plan, undecided_cmdlets
from ._seeding import seed_tenant_rbac
from ._store import load_rbac, role_groups_of, scope_rule
from ._targets import recipient_facts

__all__ = [
    "RELATIVE_SCOPES",
    "Decision",
    "Grant",
    "InvalidOperationError",
    "Request",
    "ScopeRule",
    "add_member",
    "add_principal_to_role_groups",
    "authorize",
    "decide",
    "install_rbac",
    "load_rbac",
    "load_seed",
    "recipient_facts",
    "remove_member",
    "role_group_name",
    "role_groups_of",
    "scope_rule",
    "seed_plan",
    "seed_tenant_rbac",
    "undecided_cmdlets",
]
