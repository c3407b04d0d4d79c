"""AWS credentials and SigV4 request signing for ``bedrock/`` (botocore's signer).

Credentials are taken as LiteLLM takes them, first match wins:

1. ``aws_access_key_id`` + ``aws_secret_access_key`` (+ ``aws_session_token``) in the
   deployment's ``litellm_params``;
2. ``aws_profile_name``: that profile of the shared AWS config/credentials files;
3. the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``),
   then the default profile of the shared files.

Region: ``aws_region_name``, else ``AWS_REGION_NAME``/``AWS_REGION``/``AWS_DEFAULT_REGION``,
else ``us-west-2`` (LiteLLM's default). Credentials are resolved once per deployment
(file reads, no network) and kept; a request is then signed in memory, on the event
loop, with no I/O. ``aws_role_name`` (an STS AssumeRole call) is not done by gw: a
start-up warning says so and the credentials above are used.

botocore is the optional extra ``bedrock`` (``pip install 'gw[bedrock]'``); without it a
bedrock/ deployment fails its first call with a message saying what to install.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

DEFAULT_REGION = "us-west-2"
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"


class AWSAuthError(Exception):
    """No usable credentials, or botocore is missing (the message says which)."""


@dataclass(frozen=True, slots=True)
class AWSCredentials:
    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:   # never the secret, in any traceback or log
        return f"AWSCredentials(access_key={self.access_key[:4]}..., secret_key=***)"


def region_of(extra: Mapping[str, Any], env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    value = extra.get("aws_region_name")
    if isinstance(value, str) and value:
        return value
    for name in ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name):
            return env[name]
    return DEFAULT_REGION


def credentials_of(extra: Mapping[str, Any],
                   env: Mapping[str, str] | None = None) -> AWSCredentials:
    """The deployment's credentials (see the module docstring for the order)."""
    env = os.environ if env is None else env
    key, secret = extra.get("aws_access_key_id"), extra.get("aws_secret_access_key")
    if isinstance(key, str) and key and isinstance(secret, str) and secret:
        token = extra.get("aws_session_token")
        return AWSCredentials(key, secret, token if isinstance(token, str) and token else None)
    profile = extra.get("aws_profile_name")
    if isinstance(profile, str) and profile:
        return _from_profile(profile)
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return AWSCredentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"],
                              env.get("AWS_SESSION_TOKEN") or None)
    return _from_profile(None)


def _from_profile(profile: str | None) -> AWSCredentials:
    """Static credentials of a profile of the shared files (no network: the container,
    instance-metadata and SSO providers are not asked)."""
    botocore = _botocore()
    try:
        session = botocore.session.Session(profile=profile)
        resolver = session.get_component("credential_provider")
        found = None
        for method in ("shared-credentials-file", "config-file"):
            provider = resolver.get_provider(method)
            found = provider.load() if provider is not None else None
            if found is not None:
                break
    except Exception as exc:   # botocore's ProfileNotFound, parse errors, ...
        raise AWSAuthError(f"AWS profile {profile or 'default'!r} could not be read "
                           f"({type(exc).__name__})") from None
    if found is None or not found.access_key or not found.secret_key:
        raise AWSAuthError("no AWS credentials: set aws_access_key_id/aws_secret_access_key, "
                           "aws_profile_name, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    return AWSCredentials(found.access_key, found.secret_key, found.token or None)


def _botocore() -> Any:
    """botocore's modules gw uses (a namespace), or AWSAuthError naming the extra."""
    try:
        from botocore import auth, awsrequest, credentials, session
    except ImportError:
        raise AWSAuthError("bedrock/ needs botocore: pip install 'gw[bedrock]'") from None
    return SimpleNamespace(auth=auth, awsrequest=awsrequest, credentials=credentials,
                           session=session)


def sign(creds: AWSCredentials, region: str, service: str, method: str, url: str,
         headers: Mapping[str, str], body: bytes,
         now: Callable[[], datetime] | None = None) -> dict[str, str]:
    """The request's headers plus SigV4's (``Authorization``, ``X-Amz-Date``, and
    ``X-Amz-Security-Token`` with temporary credentials), signed by botocore's
    ``SigV4Auth`` at ``now()`` (default: the current time; tests pass a fixed one)."""
    botocore = _botocore()
    credentials = botocore.credentials.Credentials(creds.access_key, creds.secret_key,
                                                   creds.token)
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body,
                                             headers=dict(headers))
    stamp = (now or _utcnow)()
    signer = botocore.auth.SigV4Auth(credentials, service, region)
    # SigV4Auth.add_auth, with the time given instead of read (so a known-answer vector
    # can check it); the canonical request, string to sign and signature are botocore's
    request.context["timestamp"] = stamp.strftime(SIGV4_TIMESTAMP)
    signer._modify_request_before_signing(request)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signer._inject_signature_to_request(request, signature)
    return {k: v for k, v in request.headers.items()}


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
