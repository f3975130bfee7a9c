"""Media links (registry.links): signed for one asset, reading only, until their expiry; no token in them."""

import uuid

from registry.links import MAX_SECONDS, MIN_SECONDS, Signer, lifetime, link_key

ASSET, OTHER = uuid.UUID(int=1), uuid.UUID(int=2)


def test_a_link_opens_its_asset_until_it_expires() -> None:
    signer = Signer(link_key("the registry's key"))
    expires, signature = signer.sign(ASSET, 60, now=1000)
    assert expires == 1060
    assert signer.valid(ASSET, expires, signature, now=1059.9)
    assert not signer.valid(ASSET, expires, signature, now=1060.1)  # expired
    assert not signer.valid(OTHER, expires, signature, now=1000)  # another asset
    assert not signer.valid(ASSET, expires + 3600, signature, now=1000)  # a later expiry written in by hand


def test_the_key_is_derived_for_links_alone_and_the_same_in_every_process() -> None:
    assert link_key("k") == link_key("k") != link_key("k2")
    assert link_key("k") != b"k" and len(link_key("k")) == 32
    assert link_key(None) != link_key(None)  # no key configured: random, per process
    one, two = Signer(link_key("k")), Signer(link_key("k2"))
    assert not two.valid(ASSET, *one.sign(ASSET, 60, now=0), now=0)


def test_a_link_lives_as_long_as_its_audio_and_a_quarter_hour_at_most_a_day() -> None:
    assert lifetime(None) == MIN_SECONDS == 900
    assert lifetime(7200.4) == 8100
    assert lifetime(10**7) == MAX_SECONDS
