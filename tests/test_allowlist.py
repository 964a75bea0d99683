"""Allowlist entries of every kind, their wildcards, and the config errors."""
from cryptography import x509
from cryptography.x509.oid import NameOID
import pytest

from engine.allowlist import AllowlistConfig, Allowlist, Entry
from engine.errors import ConfigError

SHA1 = "4da14224452c1fe61f46b1112c43ecfd9f322c82"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
JA4 = "t13d1516h2_8daaf6152771_02713d6af862"


def colons(hexstr):
    return ":".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2))


def test_an_empty_allowlist_allows_nothing():
    allow = Allowlist.from_table({})
    assert not allow
    assert allow.allows(flow_ip="192.0.2.1", sni="x.example", cert_sha1=SHA1,
                        issuer="CN=x", ja4=JA4) is None
    assert allow.allows() is None


def test_addresses_and_networks_of_both_families():
    allow = Allowlist.from_table({"ips": ["192.0.2.10", "198.51.100.0/24", "2001:db8:b::/48"]})
    assert allow.allows(flow_ip="192.0.2.10") == (
        "address 192.0.2.10 is allowlisted by allowlist.ips entry '192.0.2.10'")
    assert allow.allows(flow_ip="192.0.2.11") is None
    assert "entry '198.51.100.0/24'" in allow.allows(flow_ip="198.51.100.254")
    assert "entry '2001:db8:b::/48'" in allow.allows(flow_ip="2001:db8:b:1::1")
    assert allow.allows(flow_ip="2001:db8:c::1") is None
    assert allow.allows(flow_ip="not an address") is None


def test_an_exact_domain_matches_only_itself():
    allow = Allowlist.from_table({"domains": ["backup.example"]})
    assert allow.allows(sni="backup.example") == (
        "server name backup.example is allowlisted by allowlist.domains entry 'backup.example'")
    assert allow.allows(sni="BACKUP.Example.") is not None
    assert allow.allows(sni="x.backup.example") is None
    assert allow.allows(sni="evilbackup.example") is None


def test_a_wildcard_domain_matches_every_name_below_it_but_not_itself():
    allow = Allowlist.from_table({"domains": ["*.corp.example"]})
    assert "entry '*.corp.example'" in allow.allows(sni="files.corp.example")
    assert "entry '*.corp.example'" in allow.allows(sni="a.b.corp.example")
    assert allow.allows(sni="corp.example") is None
    assert allow.allows(sni="notcorp.example") is None
    assert allow.allows(sni="corp.example.evil.example") is None


def test_domain_matching_never_raises_on_hostile_names():
    allow = Allowlist.from_table({"domains": ["*.corp.example"]})
    for sni in ("", ".", "\udcff", "a" * 10000, b"x.corp.example"):
        allow.allows(sni=sni)
    assert allow.allows(sni=b"x.corp.example") is not None


def test_certificate_fingerprints_in_any_case_with_or_without_colons():
    allow = Allowlist.from_table({"cert_fingerprints": [colons(SHA1).upper(), SHA256.upper()]})
    assert allow.allows(cert_sha1=SHA1) == (
        f"certificate SHA-1 {SHA1} is allowlisted by allowlist.cert_fingerprints entry '{SHA1}'")
    assert allow.allows(cert_sha1=colons(SHA1)) is not None
    assert allow.allows(cert_sha256=colons(SHA256).upper()).startswith("certificate SHA-256")
    assert allow.allows(cert_sha1="00" * 20) is None


def test_a_ca_name_without_equals_is_the_issuers_exact_cn():
    allow = Allowlist.from_table({"ca_names": ["Corp Issuing CA 1"]})
    assert allow.allows(issuer="C=US, O=Example Corp, CN=Corp Issuing CA 1") == (
        "issuer CN Corp Issuing CA 1 is allowlisted by allowlist.ca_names entry "
        "'Corp Issuing CA 1'")
    assert allow.allows(issuer="CN=corp issuing ca 1,O=Example Corp") is not None
    assert allow.allows(issuer="/C=US/O=Example Corp/CN=Corp Issuing CA 1") is not None
    assert allow.allows(issuer="C=US, CN=Corp Issuing CA 12") is None
    assert allow.allows(issuer="C=US, O=Corp Issuing CA 1") is None


def test_a_ca_name_with_equals_is_a_substring_of_the_issuer_dn():
    allow = Allowlist.from_table({"ca_names": ["O=Example Corp,  C=US"]})
    assert allow.allows(issuer="CN=Anything, O=example corp, C=US") is not None
    assert allow.allows(issuer="CN=Anything, O=Example Corp Evil, C=DE") is None


def test_issuer_may_be_a_cryptography_name():
    allow = Allowlist.from_table({"ca_names": ["Corp Root"]})
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Corp"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Corp Root")])
    assert allow.allows(issuer=name) is not None


def test_ja4_exact_and_with_wildcard_sections():
    allow = Allowlist.from_table({"ja4": [JA4, "t13d*_*_*", "q13d0310h3_55b375c5d22e_*"]})
    assert allow.allows(ja4=JA4) == f"JA4 {JA4} is allowlisted by allowlist.ja4 entry '{JA4}'"
    assert "entry 't13d*_*_*'" in allow.allows(ja4="t13d0000h1_000000000000_111111111111")
    assert allow.allows(ja4="t12d1516h2_8daaf6152771_02713d6af862") is None
    assert allow.allows(ja4="t13i1516h2_8daaf6152771_02713d6af862") is None
    assert "entry 'q13d0310h3_55b375c5d22e_*'" in allow.allows(
        ja4="q13d0310h3_55b375c5d22e_cd85d2d88918")
    assert allow.allows(ja4="q13d0310h3_55b375c5d22f_cd85d2d88918") is None


def test_a_ja4_wildcard_does_not_cross_sections():
    allow = Allowlist.from_table({"ja4": ["t13d*"]})
    assert allow.allows(ja4="t13d1516h2") is not None
    assert allow.allows(ja4=JA4) is None


def test_entries_may_carry_a_note_that_ends_up_in_the_reason():
    allow = Allowlist.from_table({"ips": [{"value": "192.0.2.10", "note": "backup, CHG-1234"}]})
    assert allow.allows(flow_ip="192.0.2.10").endswith("entry '192.0.2.10' (backup, CHG-1234)")
    assert allow.config.ips == (Entry("192.0.2.10", "backup, CHG-1234"),)


def test_the_first_matching_kind_gives_the_reason_and_any_one_match_allows():
    allow = Allowlist.from_table({"ips": ["192.0.2.0/24"], "ja4": ["t13d*_*_*"]})
    assert allow.allows(flow_ip="192.0.2.1", ja4=JA4).startswith("address")
    assert allow.allows(flow_ip="203.0.113.1", ja4=JA4).startswith("JA4")


def test_config_normalises_domains_and_fingerprints():
    cfg = AllowlistConfig.from_table({"domains": ["Backup.Example."],
                                      "cert_fingerprints": [colons(SHA1).upper()]})
    assert cfg.domains == (Entry("backup.example"),)
    assert cfg.cert_fingerprints == (Entry(SHA1),)


@pytest.mark.parametrize("table, message", [
    ("x", "Configuration key 'allowlist' must be a table, not 'x'."),
    ({"ip": []}, "Configuration key 'allowlist.ip' is not known; [allowlist] takes: "
                 "ca_names, cert_fingerprints, domains, ips, ja4."),
    ({"ips": "10.0.0.0/8"}, "Configuration key 'allowlist.ips' must be a list, not '10.0.0.0/8'."),
    ({"ips": ["10.0.0.0/8", "10.0.0.300"]},
     "Configuration key 'allowlist.ips[1]' must be an IP address or CIDR network, "
     "not '10.0.0.300'."),
    ({"ips": [3]}, "Configuration key 'allowlist.ips[0]' must be a non-empty string, not 3."),
    ({"domains": ["api-*.example"]}, "Configuration key 'allowlist.domains[0]' must be a domain"),
    ({"domains": ["*"]}, "Configuration key 'allowlist.domains[0]' must be a domain"),
    ({"domains": ["a..example"]}, "Configuration key 'allowlist.domains[0]' must be a domain"),
    ({"cert_fingerprints": ["abcd"]},
     "Configuration key 'allowlist.cert_fingerprints[0]' must be a certificate SHA-1"),
    ({"ja4": ["t13d 1516"]}, "Configuration key 'allowlist.ja4[0]' must be a JA4 fingerprint"),
    ({"ca_names": [""]}, "Configuration key 'allowlist.ca_names[0]' must be a non-empty string"),
    ({"ips": [{"note": "x"}]}, "Configuration key 'allowlist.ips[0]' must be a string or a table"),
    ({"ips": [{"value": "1.2.3.4", "note": 5}]},
     "Configuration key 'allowlist.ips[0].note' must be a string, not 5."),
    ({"ips": [{"value": "1.2.3"}]},
     "Configuration key 'allowlist.ips[0].value' must be an IP address or CIDR network"),
])
def test_config_errors_name_the_full_key(table, message):
    with pytest.raises(ConfigError) as err:
        AllowlistConfig.from_table(table)
    assert str(err.value).startswith(message)


def test_config_where_prefixes_the_key():
    with pytest.raises(ConfigError, match=r"'alerts.allowlist.ja4' must be a list"):
        Allowlist.from_table({"ja4": "t13d*"}, where="alerts.allowlist")
