import random

from registry import auth
from registry.webhooks.backoff import retry_delay
from registry.webhooks.signing import sign, signature, verify


def test_scopes_are_ordered_admin_write_read():
    assert auth.has_scope({"admin"}, "read") and auth.has_scope({"admin"}, "write")
    assert auth.has_scope({"write"}, "read") and not auth.has_scope({"write"}, "admin")
    assert not auth.has_scope({"read"}, "write") and not auth.has_scope(set(), "read")
    assert not auth.has_scope({"superuser"}, "read")


def test_tokens_are_random_and_stored_only_as_hashes():
    first, second = auth.new_token(), auth.new_token()
    assert first != second and first.startswith("dhg_") and len(first) > 40
    assert auth.hash_token(first) != first and len(auth.hash_token(first)) == 64
    assert auth.hash_token(first) == auth.hash_token(first)


def test_bearer_header_parsing():
    assert auth.parse_bearer("Bearer abc") == "abc"
    assert auth.parse_bearer("bearer  abc ") == "abc"
    assert auth.parse_bearer("Basic abc") is None
    assert auth.parse_bearer("Bearer ") is None
    assert auth.parse_bearer(None) is None


def test_signature_verifies_and_rejects_tampering_wrong_secret_and_staleness():
    body = b'{"type":"transcript.created"}'
    header = sign("s3cret-s3cret-s3cret", body, timestamp=1_700_000_000)
    assert header == f"t=1700000000,v1={signature('s3cret-s3cret-s3cret', 1_700_000_000, body)}"
    assert verify("s3cret-s3cret-s3cret", header, body, now=1_700_000_100)
    assert not verify("s3cret-s3cret-s3cret", header, body + b" ", now=1_700_000_100)
    assert not verify("other-secret-value", header, body, now=1_700_000_100)
    assert not verify("s3cret-s3cret-s3cret", header, body, now=1_700_000_000 + 301)
    assert not verify("s3cret-s3cret-s3cret", "garbage", body)


def test_retry_delay_grows_exponentially_and_is_capped():
    rng = random.Random(1)
    delays = [retry_delay(n, base=2, cap=60, jitter=0, rng=rng) for n in range(1, 8)]
    assert delays == [2, 4, 8, 16, 32, 60, 60]
    jittered = retry_delay(3, base=2, cap=60, jitter=0.2, rng=rng)
    assert 6.4 <= jittered <= 9.6
