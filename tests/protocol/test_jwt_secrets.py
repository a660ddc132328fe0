"""HS256 JWTs, token lifetimes and the Secret wrapper."""

from __future__ import annotations

import base64
import contextlib
import copy
import logging
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioqruntime._exceptions import ProtocolError
from aioqruntime.protocol import (
    InvalidTokenError,
    Secret,
    TokenResponse,
    TokenTimes,
    decode_jwt_unverified,
    encode_jwt,
    token_refresh_at,
    token_times,
    verify_jwt,
)

KEY = b"server-key"
claims_strategy = st.dictionaries(
    st.text(max_size=10),
    st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=20), st.booleans(), st.none()),
    max_size=6,
)


@given(claims_strategy)
def test_round_trip(claims: dict[str, object]) -> None:
    token = encode_jwt(claims, KEY)
    assert decode_jwt_unverified(token) == claims
    assert "=" not in token and token.count(".") == 2


def test_verify() -> None:
    token = encode_jwt({"sub": "u", "iat": 100, "exp": 200}, KEY)
    assert verify_jwt(token, KEY, now=150)["sub"] == "u"
    with pytest.raises(InvalidTokenError, match="expired"):
        verify_jwt(token, KEY, now=200)
    assert verify_jwt(token, KEY, now=205, leeway=10)["sub"] == "u"
    with pytest.raises(InvalidTokenError, match="signature"):
        verify_jwt(token, b"other-key", now=150)
    with pytest.raises(InvalidTokenError, match="exp"):
        verify_jwt(encode_jwt({"sub": "u"}, KEY), KEY, now=0)
    with pytest.raises(InvalidTokenError, match="not valid yet"):
        verify_jwt(encode_jwt({"exp": 500, "nbf": 300}, KEY), KEY, now=200)


@given(st.data())
def test_any_tampering_is_detected(data: st.DataObject) -> None:
    token = encode_jwt({"sub": "user", "exp": 10**10}, KEY)
    index = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_.")
    )
    tampered = token[:index] + replacement + token[index + 1 :]
    if tampered == token:
        return
    try:
        claims = verify_jwt(tampered, KEY, now=0)
    except InvalidTokenError:
        return
    # Base64url's last character can carry unused bits: a change there may decode identically.
    assert claims == {"sub": "user", "exp": 10**10}
    assert index == len(token) - 1


def test_alg_none_refused() -> None:
    _, payload, _ = encode_jwt({"exp": 10**10}, KEY).split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    with pytest.raises(InvalidTokenError, match="algorithm"):
        verify_jwt(f"{none_header}.{payload}.", KEY, now=0)


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c.d", "!!.??.xx", "e30.W10.", "bm90IGpzb24.e30.", "é.é.é"]
)
def test_garbage_is_a_protocol_error(token: str) -> None:
    with pytest.raises(ProtocolError):
        decode_jwt_unverified(token)


@given(st.text(max_size=60))
def test_decode_never_raises_anything_else(token: str) -> None:
    with contextlib.suppress(ProtocolError):
        decode_jwt_unverified(token)


def test_token_lifetime() -> None:
    assert token_refresh_at(0, 3600) == pytest.approx(2880)  # 48 minutes into a 1 h token
    times = TokenTimes(issued_at=0, expires_at=3600)
    assert not times.needs_refresh(2880) and times.needs_refresh(2881)
    assert not times.is_expired(3589) and times.is_expired(3590)
    token = encode_jwt({"iat": 1000, "exp": 4600}, b"iam")
    assert token_times(token) == TokenTimes(1000, 4600)
    assert TokenResponse(access_token=token).times().refresh_at == pytest.approx(3880)
    with pytest.raises(InvalidTokenError, match="iat"):
        token_times(encode_jwt({"exp": 5}, b"iam"))
    with pytest.raises(InvalidTokenError, match="number"):
        token_times(encode_jwt({"iat": "x", "exp": 5}, b"iam"))


def test_secret_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("hunter2")
    renderings = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>20}",
        "%s %r" % (secret, secret),  # noqa: UP031 - the old operator must hide it too
        f"{secret}",
        repr([secret]),
        repr({"key": secret}),
    ]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("aioqruntime.test").debug("key=%s %r", secret, secret)
    renderings.append(caplog.text)
    for text in renderings:
        assert "hunter2" not in text
    assert repr(secret) == "Secret('***')"
    assert secret.get() == "hunter2"
    assert secret == Secret("hunter2") and secret != Secret("x") and bool(secret)
    assert hash(secret) == hash(Secret("hunter2"))
    assert copy.deepcopy(secret) == secret and copy.copy(secret) is secret
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]
