import pytest

from lb_drain.access import Access


def test_loopback_is_allowed_by_default_and_nothing_else():
    a = Access()
    assert a.allows("127.0.0.1")
    assert a.allows("127.3.4.5")
    assert a.allows("::1")
    assert a.allows("::ffff:127.0.0.1")  # a dual-stack socket's view of 127.0.0.1
    assert not a.allows("203.0.113.2")
    assert not a.allows("2001:db8::2")


def test_the_balancers_addresses_from_the_environment(monkeypatch):
    monkeypatch.setenv("LB_DRAIN_ALLOW", "203.0.113.2, 2001:db8::/64 198.51.100.0/24")
    a = Access()
    assert a.allows("203.0.113.2")
    assert a.allows("::ffff:203.0.113.2")
    assert a.allows("2001:db8::99")
    assert a.allows("198.51.100.77")
    assert not a.allows("203.0.113.3")
    assert not a.allows("2001:db9::1")
    assert a.allows("127.0.0.1")


def test_explicit_allow_replaces_the_environment(monkeypatch):
    monkeypatch.setenv("LB_DRAIN_ALLOW", "203.0.113.2")
    a = Access(allow=["192.0.2.7"])
    assert a.allows("192.0.2.7")
    assert not a.allows("203.0.113.2")
    assert Access(allow="192.0.2.7, 192.0.2.8").allows("192.0.2.8")


@pytest.mark.parametrize("value", ["0", "false", "No", "off"])
def test_loopback_can_be_refused(monkeypatch, value):
    monkeypatch.setenv("LB_DRAIN_LOOPBACK", value)
    monkeypatch.setenv("LB_DRAIN_ALLOW", "203.0.113.2")
    a = Access()
    assert not a.allows("127.0.0.1")
    assert not a.allows("::1")
    assert a.allows("203.0.113.2")
    assert not Access(allow=[], loopback=False).allows("127.0.0.1")


def test_a_request_relayed_by_a_proxy_is_refused_even_from_loopback():
    assert not Access().allows("127.0.0.1", forwarded=True)


@pytest.mark.parametrize("peer", [None, "", "testclient", "unix:/run/app.sock", "300.1.1.1"])
def test_no_usable_peer_address_is_refused(peer):
    assert not Access().allows(peer)


def test_a_zone_index_is_ignored():
    assert Access(allow=["fe80::/10"]).allows("fe80::1%eth0")


def test_a_bad_entry_fails_at_start_up_naming_where_it_came_from(monkeypatch):
    monkeypatch.setenv("LB_DRAIN_ALLOW", "203.0.113.2,lb.example.com")
    with pytest.raises(ValueError, match=r"\$LB_DRAIN_ALLOW: 'lb.example.com'"):
        Access()
    with pytest.raises(ValueError, match="allow: '192.0.2.0/33'"):
        Access(allow=["192.0.2.0/33"])
