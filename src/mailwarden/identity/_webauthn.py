"""WebAuthn (W3C Web Authentication Level 2) via py_webauthn: registration (§7.1, attestation "none" accepted)
and assertion (§7.2) with the signature-counter check of §6.1.1 — a counter that does not grow (when either
side is non-zero) signals a cloned authenticator and is refused. User verification (§7.2 step 17) is required
when the caller asks for it (accounts in a role group). Every refusal raises :class:`InvalidCode`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ._errors import InvalidCode

__all__ = [
    "RegisteredCredential",
    "assertion_credential_id",
    "authentication_options_json",
    "registration_options_json",
    "verify_assertion",
    "verify_registration",
]


@dataclass(frozen=True)
class RegisteredCredential:
    credential_id: str  # base64url
    public_key: bytes  # COSE
    sign_count: int
    user_verified: bool


def _uv(required: bool) -> UserVerificationRequirement:
    return UserVerificationRequirement.REQUIRED if required else UserVerificationRequirement.PREFERRED


def registration_options_json(
    *,
    rp_id: str,
    rp_name: str,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    challenge: bytes,
    exclude_credential_ids: list[bytes],
    require_user_verification: bool,
) -> str:
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=_uv(require_user_verification),
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in exclude_credential_ids],
    )
    return options_to_json(options)


def verify_registration(
    credential: str | dict[str, Any],
    *,
    challenge: bytes,
    rp_id: str,
    origin: str,
    require_user_verification: bool,
) -> RegisteredCredential:
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=require_user_verification,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise InvalidCode(f"The authenticator response was not accepted: {exc}") from None
    return RegisteredCredential(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        user_verified=verified.user_verified,
    )


def authentication_options_json(
    *, rp_id: str, challenge: bytes, allow_credential_ids: list[bytes], require_user_verification: bool
) -> str:
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in allow_credential_ids],
        user_verification=_uv(require_user_verification),
    )
    return options_to_json(options)


def assertion_credential_id(credential: str | dict[str, Any]) -> str:
    """The base64url credential id an assertion claims (to find the stored public key)."""
    try:
        data = json.loads(credential) if isinstance(credential, str) else credential
        value = data["rawId"] if "rawId" in data else data["id"]
    except (ValueError, KeyError, TypeError):
        raise InvalidCode("The authenticator response is malformed.") from None
    if not isinstance(value, str) or not value or len(value) > 1400:
        raise InvalidCode("The authenticator response is malformed.")
    return value


def verify_assertion(
    credential: str | dict[str, Any],
    *,
    challenge: bytes,
    rp_id: str,
    origin: str,
    public_key: bytes,
    sign_count: int,
    require_user_verification: bool,
) -> int:
    """Return the authenticator's new signature counter, or raise :class:`InvalidCode`."""
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=require_user_verification,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise InvalidCode(f"The authenticator response was not accepted: {exc}") from None
    new_count = int(verified.new_sign_count)
    if (new_count or sign_count) and new_count <= sign_count:
        raise InvalidCode("The authenticator's signature counter went backwards (possible clone).")
    return new_count
