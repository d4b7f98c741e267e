"""SSRF checks for outbound URLs, on literal addresses only: no test here resolves a real name."""

import ipaddress
import re
import socket

import pytest

from hookyard.outbound import url_safety
from hookyard.outbound.url_safety import Target, UnsafeUrl, address_problem, check_url, parse_url


def problem_of(text: str, allow_private: bool = False) -> str | None:
    return address_problem(ipaddress.ip_address(text), allow_private)


def fake_resolver(monkeypatch, *addresses):
    """Make every host resolve to `addresses`, without asking DNS."""
    monkeypatch.setattr(url_safety, "resolve_addresses", lambda host, port: list(addresses))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_a_public_address_has_no_problem(address):
    assert problem_of(address) is None


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
    ],
)
def test_a_non_public_address_is_refused_with_its_reason(address, reason):
    assert reason in problem_of(address)


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "169.254.170.2", "fd00:ec2::254", "168.63.129.16", "100.100.100.200", "192.0.0.192"]
)
def test_a_cloud_metadata_address_is_refused(address):
    assert "metadata" in problem_of(address)


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"])
def test_a_cloud_metadata_address_is_refused_even_when_private_networks_are_allowed(address):
    assert "metadata" in problem_of(address, allow_private=True)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "192.168.1.1", "fe80::1", "100.64.0.1", "::1"])
def test_a_private_address_is_allowed_when_private_networks_are_allowed(address):
    assert problem_of(address, allow_private=True) is None


def test_an_unspecified_address_is_refused_even_when_private_networks_are_allowed():
    assert "unspecified" in problem_of("0.0.0.0", allow_private=True)


def test_a_multicast_address_is_refused_even_when_private_networks_are_allowed():
    assert "multicast" in problem_of("224.0.0.1", allow_private=True)


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b:1::a00:1", "private"),  # local-use NAT64 of 10.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo of 127.0.0.1 (client bits inverted)
    ],
)
def test_an_ipv6_address_carrying_a_forbidden_ipv4_address_is_refused(address, inner):
    assert inner in problem_of(address)


def test_an_ipv6_problem_names_the_ipv6_address_it_was_found_inside():
    assert problem_of("::ffff:127.0.0.1").endswith("(inside ::ffff:7f00:1)")


def test_an_ipv4_mapped_metadata_address_is_refused_even_when_private_networks_are_allowed():
    assert "metadata" in problem_of("::ffff:169.254.169.254", allow_private=True)


def test_a_nat64_address_carrying_a_public_address_has_no_problem():
    assert problem_of("64:ff9b::808:808") is None


@pytest.mark.parametrize("address", ["192.0.2.1", "198.18.0.1", "240.0.0.1", "255.255.255.255", "2001:db8::1"])
def test_a_documentation_benchmark_or_reserved_address_is_refused(address):
    assert problem_of(address) is not None


def test_parse_url_splits_an_https_url_with_the_default_port():
    assert parse_url("https://203.0.113.9/hooks?x=1") == ("https", "203.0.113.9", 443, "/hooks?x=1")


def test_parse_url_gives_port_80_to_an_http_url():
    assert parse_url("http://203.0.113.9/")[2] == 80


def test_parse_url_keeps_an_explicit_port():
    assert parse_url("http://203.0.113.9:8080/")[2] == 8080


def test_parse_url_gives_an_empty_path_as_slash():
    assert parse_url("https://203.0.113.9")[3] == "/"


def test_parse_url_drops_the_fragment():
    assert parse_url("https://203.0.113.9/a#secret")[3] == "/a"


def test_parse_url_reads_a_bracketed_ipv6_host_without_brackets():
    assert parse_url("http://[2001:db8::1]:8080/")[1] == "2001:db8::1"


def test_parse_url_accepts_an_upper_case_scheme():
    assert parse_url("HTTPS://203.0.113.9/")[0] == "https"


@pytest.mark.parametrize(
    "url", ["ftp://203.0.113.9/", "file:///etc/passwd", "gopher://203.0.113.9/", "javascript:alert(1)", "//x/y"]
)
def test_a_url_that_is_not_http_or_https_is_refused(url):
    with pytest.raises(UnsafeUrl, match="Only http and https"):
        parse_url(url)


def test_a_url_without_a_host_is_refused():
    with pytest.raises(UnsafeUrl, match="no host"):
        parse_url("https:///hooks")


@pytest.mark.parametrize("url", ["https://user@203.0.113.9/", "https://user:pass@203.0.113.9/", "https://:pw@1.2.3.4/"])
def test_a_url_with_credentials_is_refused(url):
    with pytest.raises(UnsafeUrl, match="credentials"):
        parse_url(url)


@pytest.mark.parametrize("url", ["https://203.0.113.9:65536/", "https://203.0.113.9:http/", "https://203.0.113.9:-1/"])
def test_a_url_with_a_bad_port_is_refused(url):
    with pytest.raises(UnsafeUrl, match="Not a valid URL"):
        parse_url(url)


def test_a_url_with_port_zero_is_refused():
    with pytest.raises(UnsafeUrl):
        parse_url("https://203.0.113.9:0/")


def test_check_url_returns_the_target_of_a_public_literal_address():
    target = check_url("https://8.8.8.8:8443/hooks?x=1")
    assert target == Target("https", "8.8.8.8", 8443, "8.8.8.8", "/hooks?x=1")


def test_check_url_refuses_a_loopback_address():
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_url("http://127.0.0.1/")


def test_check_url_refuses_an_ipv6_loopback_address():
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_url("http://[::1]/")


def test_check_url_refuses_an_ipv4_mapped_ipv6_loopback_address():
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_url("http://[::ffff:127.0.0.1]/")


def test_check_url_refuses_the_metadata_address():
    with pytest.raises(UnsafeUrl, match="metadata"):
        check_url("http://169.254.169.254/latest/meta-data/")


@pytest.mark.parametrize("host", ["127.1", "0x7f000001", "2130706433", "0177.0.0.1"])
def test_check_url_refuses_a_numeric_spelling_of_loopback(host):
    with pytest.raises(UnsafeUrl, match="loopback"):
        check_url(f"http://{host}/")


def test_check_url_lets_loopback_through_when_private_networks_are_allowed():
    assert check_url("http://127.0.0.1:5000/hook", allow_private=True).address == "127.0.0.1"


def test_check_url_keeps_the_host_as_written_for_the_host_header(monkeypatch):
    fake_resolver(monkeypatch, "8.8.8.8")
    assert check_url("https://hooks.example.com/").host == "hooks.example.com"


def test_check_url_connects_to_the_first_checked_address(monkeypatch):
    fake_resolver(monkeypatch, "8.8.4.4", "8.8.8.8")
    assert check_url("https://hooks.example.com/").address == "8.8.4.4"


def test_check_url_refuses_a_name_when_any_of_its_addresses_is_private(monkeypatch):
    fake_resolver(monkeypatch, "8.8.8.8", "10.0.0.5")
    with pytest.raises(UnsafeUrl, match=re.escape("10.0.0.5")):
        check_url("https://hooks.example.com/")


def test_check_url_judges_a_scoped_ipv6_address_without_its_zone(monkeypatch):
    fake_resolver(monkeypatch, "fe80::1%eth0")
    with pytest.raises(UnsafeUrl, match="link-local"):
        check_url("https://hooks.example.com/")


def test_check_url_refuses_a_name_that_does_not_resolve(monkeypatch):
    def fail(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(url_safety, "resolve_addresses", fail)
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        check_url("https://nowhere.invalid/")


def test_check_url_refuses_a_bad_scheme_before_resolving(monkeypatch):
    monkeypatch.setattr(url_safety, "resolve_addresses", pytest.fail)
    with pytest.raises(UnsafeUrl, match="Only http and https"):
        check_url("ftp://hooks.example.com/")


@pytest.mark.parametrize(
    "url", ["http://203.0.113.9/ok\r\nX-Injected: 1", "http://203.0.113.9/o\tk", "http://203.0.113.9/\x00"]
)
def test_a_url_holding_a_control_character_is_refused_not_rewritten(url):
    with pytest.raises(UnsafeUrl, match="control character"):
        parse_url(url)
