"""RBAC cmdlets (DESIGN §4 "RBAC", §6): roles, role entries, role groups and members, role assignments,
management scopes, role assignment policies, privileged access (Exchange PAM's names) and
``Test-CmdletPermission`` (ours). Handlers live in ``mailwarden.rbac``."""

from __future__ import annotations

from mailwarden.rbac import _assignment_handlers as A
from mailwarden.rbac import _explain as X
from mailwarden.rbac import _group_handlers as G
from mailwarden.rbac import _pam as P
from mailwarden.rbac import _role_handlers as R

from ._registry import CmdletSpec, Param, ParamType

__all__ = ["RBAC_CMDLETS"]

S, B, SW, I, L, ID = (  # noqa: E741 - short aliases keep the declarations on one line each
    ParamType.STRING,
    ParamType.BOOL,
    ParamType.SWITCH,
    ParamType.INT,
    ParamType.STRING_LIST,
    ParamType.IDENTITY,
)
_ID = Param("Identity", ID, position=0)
_ID_REQ = Param("Identity", ID, mandatory=True, position=0)
_BYPASS = Param("BypassSecurityGroupManagerCheck", SW)
_SCOPES = (
    Param(
        "RecipientRelativeWriteScope",
        ParamType.ENUM,
        enum=("None", "Organization", "MyGAL", "Self", "MyDistributionGroups"),
    ),
    Param("CustomRecipientWriteScope", S),
    Param("ExclusiveRecipientWriteScope", S),
    Param("RecipientOrganizationalUnitScope", S),
    Param("RestrictReads", B, help="ours: hide recipients outside the write scope from reads"),
)
# A request is named by its id alone (PAMCFG): an object identity like -Identity elsewhere.
_REQUEST_ID = Param("RequestId", ID, mandatory=True, position=0)
_PAM_TARGET = (Param("Task", S), Param("Role", S), Param("RoleGroup", S))


def _spec(
    name: str, params: tuple[Param, ...], handler: object, writes: bool, object_type: str
) -> CmdletSpec:
    return CmdletSpec(name, params, handler, writes=writes, object_type=object_type)  # type: ignore[arg-type]


RBAC_CMDLETS = (
    _spec("Get-ManagementRole", (_ID, Param("Cmdlet", S), Param("CmdletParameters", L), Param("RoleType", S)), R.get_role, False, "ManagementRole"),
    _spec("New-ManagementRole", (Param("Name", S, mandatory=True, position=0), Param("Parent", S, mandatory=True), Param("Description", S)), R.new_role, True, "ManagementRole"),
    _spec("Remove-ManagementRole", (_ID_REQ, Param("Recurse", SW)), R.remove_role, True, "ManagementRole"),
    _spec("Get-ManagementRoleEntry", (_ID_REQ, Param("Parameters", L)), R.get_role_entry, False, "ManagementRoleEntry"),
    _spec("Add-ManagementRoleEntry", (_ID_REQ, Param("Parameters", L)), R.add_role_entry, True, "ManagementRoleEntry"),
    _spec("Set-ManagementRoleEntry", (_ID_REQ, Param("Parameters", L), Param("AddParameter", SW), Param("RemoveParameter", SW)), R.set_role_entry, True, "ManagementRoleEntry"),
    _spec("Remove-ManagementRoleEntry", (_ID_REQ,), R.remove_role_entry, True, "ManagementRoleEntry"),
    _spec("Get-RoleGroup", (_ID,), G.get_role_group, False, "RoleGroup"),
    _spec("New-RoleGroup", (Param("Name", S, mandatory=True, position=0), Param("Roles", L), Param("Members", L), Param("ManagedBy", L), Param("Description", S)), G.new_role_group, True, "RoleGroup"),
    _spec("Set-RoleGroup", (_ID_REQ, Param("Name", S), Param("Description", S), Param("ManagedBy", L), _BYPASS), G.set_role_group, True, "RoleGroup"),
    _spec("Remove-RoleGroup", (_ID_REQ, _BYPASS), G.remove_role_group, True, "RoleGroup"),
    _spec("Get-RoleGroupMember", (_ID_REQ,), G.get_role_group_member, False, "RoleGroupMember"),
    _spec("Add-RoleGroupMember", (_ID_REQ, Param("Member", ID, mandatory=True), _BYPASS), G.add_role_group_member, True, "RoleGroupMember"),
    _spec("Remove-RoleGroupMember", (_ID_REQ, Param("Member", ID, mandatory=True), _BYPASS), G.remove_role_group_member, True, "RoleGroupMember"),
    _spec("Update-RoleGroupMember", (_ID_REQ, Param("Members", L, mandatory=True), _BYPASS), G.update_role_group_member, True, "RoleGroupMember"),
    _spec("Get-ManagementRoleAssignment", (_ID, Param("Role", S), Param("RoleAssignee", S), Param("Delegating", B), Param("Enabled", B)), A.get_assignment, False, "ManagementRoleAssignment"),
    _spec("New-ManagementRoleAssignment", (Param("Name", S), Param("Role", S, mandatory=True), Param("SecurityGroup", ID), Param("User", ID), Param("App", ID), Param("Delegating", SW), *_SCOPES), A.new_assignment, True, "ManagementRoleAssignment"),
    _spec("Set-ManagementRoleAssignment", (_ID_REQ, Param("Enabled", B), *_SCOPES), A.set_assignment, True, "ManagementRoleAssignment"),
    _spec("Remove-ManagementRoleAssignment", (_ID_REQ,), A.remove_assignment, True, "ManagementRoleAssignment"),
    _spec("Get-ManagementScope", (_ID, Param("Exclusive", B), Param("Orphan", SW)), A.get_scope, False, "ManagementScope"),
    _spec("New-ManagementScope", (Param("Name", S, mandatory=True, position=0), Param("RecipientRestrictionFilter", S, mandatory=True), Param("RecipientRoot", S), Param("Exclusive", SW), Param("Force", SW)), A.new_scope, True, "ManagementScope"),
    _spec("Set-ManagementScope", (_ID_REQ, Param("Name", S), Param("RecipientRestrictionFilter", S), Param("RecipientRoot", S)), A.set_scope, True, "ManagementScope"),
    _spec("Remove-ManagementScope", (_ID_REQ,), A.remove_scope, True, "ManagementScope"),
    _spec("Get-RoleAssignmentPolicy", (_ID,), X.get_role_assignment_policy, False, "RoleAssignmentPolicy"),
    _spec("Get-ElevatedAccessApprovalPolicy", (_ID,), P.get_policy, False, "ElevatedAccessApprovalPolicy"),
    _spec("New-ElevatedAccessApprovalPolicy", (*_PAM_TARGET, Param("ApprovalType", ParamType.ENUM, enum=("Manual", "Auto")), Param("ApproverGroup", S, mandatory=True)), P.new_policy, True, "ElevatedAccessApprovalPolicy"),
    _spec("Set-ElevatedAccessApprovalPolicy", (_ID_REQ, Param("ApprovalType", ParamType.ENUM, enum=("Manual", "Auto")), Param("ApproverGroup", S)), P.set_policy, True, "ElevatedAccessApprovalPolicy"),
    _spec("Remove-ElevatedAccessApprovalPolicy", (_ID_REQ,), P.remove_policy, True, "ElevatedAccessApprovalPolicy"),
    _spec("New-ElevatedAccessRequest", (*_PAM_TARGET, Param("Reason", S, mandatory=True), Param("DurationHours", I, min_value=1, max_value=8760)), P.new_request, True, "ElevatedAccessRequest"),
    _spec("Get-ElevatedAccessRequest", (_ID, Param("RequestStatus", S)), P.get_request, False, "ElevatedAccessRequest"),
    _spec("Approve-ElevatedAccessRequest", (_REQUEST_ID, Param("Comment", S)), P.approve_request, True, "ElevatedAccessRequest"),
    _spec("Deny-ElevatedAccessRequest", (_REQUEST_ID, Param("Comment", S)), P.deny_request, True, "ElevatedAccessRequest"),
    _spec("Revoke-ElevatedAccessAuthorization", (_REQUEST_ID,), P.revoke_authorization, True, "ElevatedAccessRequest"),
    _spec("Test-CmdletPermission", (Param("Cmdlet", S, mandatory=True, position=0), Param("Principal", ID), Param("Parameters", L), Param("Target", ID)), X.test_cmdlet_permission, False, "CmdletPermission"),
)  # fmt: skip
