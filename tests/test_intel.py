"""Threat-intelligence files in every supported format, and matching against them.

Every input is a literal the test writes into tmp_path.
"""
import json

import pytest

from engine.errors import ConfigError, ExfilwatchError, IntelError
from engine.intel import Indicator, IntelConfig, IntelSet, IpRangeTable, parse_network

SHA1 = "4da14224452c1fe61f46b1112c43ecfd9f322c82"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
JA3 = "e7d705a3286e19ea42f587b344ee6865"
JA4 = "t13d1516h2_8daaf6152771_02713d6af862"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def values(matches):
    return [(m.kind, m.value) for m in matches]


# ---------------------------------------------------------------- plain lists

def test_plain_list_infers_every_kind_and_skips_comments(tmp_path):
    path = write(tmp_path, "mixed.txt", f"""# a feed
; another comment style

203.0.113.7
198.51.100.0/24
2001:db8:bad::/48
2001:db8::99
evil.example
{SHA1}
{SHA256}
{JA3}
{JA4}
""")
    intel = IntelSet.load([path])
    assert intel.counts() == {"ip": 4, "domain": 1, "cert_sha1": 1, "cert_sha256": 1,
                              "ja3": 1, "ja4": 1}
    assert values(intel.match_ip("203.0.113.7")) == [("ip", "203.0.113.7")]
    assert intel.match_ip("203.0.113.7")[0] == Indicator("ip", "203.0.113.7", path, 4)
    assert values(intel.match_ip("198.51.100.200")) == [("ip", "198.51.100.0/24")]
    assert values(intel.match_domain("evil.example")) == [("domain", "evil.example")]
    assert intel.match_cert(sha1=SHA1)[0].line == 9
    assert intel.match_cert(sha256=SHA256)[0].line == 10
    assert intel.match_ja3(JA3)[0].line == 11
    assert intel.match_ja4(JA4)[0].line == 12


def test_plain_list_inline_comment_becomes_the_description(tmp_path):
    path = write(tmp_path, "drop.txt", "192.0.2.0/24 ; SBL123\n203.0.113.9\t# C2 of X\n")
    intel = IntelSet.load(path)
    assert intel.match_ip("192.0.2.1")[0].description == "SBL123"
    assert intel.match_ip("203.0.113.9")[0].description == "C2 of X"


def test_plain_list_line_with_two_values_is_an_error_naming_file_and_line(tmp_path):
    path = write(tmp_path, "hosts.txt", "# hosts file\n1.2.3.4\n0.0.0.0 evil.example\n")
    with pytest.raises(IntelError) as err:
        IntelSet.load([path])
    assert str(err.value) == (f"Threat-intelligence file '{path}', line 3: expected one "
                              f"indicator per line, found '0.0.0.0 evil.example'.")


@pytest.mark.parametrize("bad", ["not_a_domain!", "999.1.2.3/8", "abcd", "http://evil.example/x",
                                 "ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"])
def test_plain_list_unrecognised_value_is_an_error_naming_file_and_line(tmp_path, bad):
    path = write(tmp_path, "bad.txt", f"1.2.3.4\n\n{bad}\n")
    with pytest.raises(IntelError, match=rf"'{path}', line 3: '.*' is not an IP address"):
        IntelSet.load([path])


def test_intel_error_is_a_config_error():
    assert issubclass(IntelError, ConfigError) and issubclass(IntelError, ExfilwatchError)


def test_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(IntelError, match=r"'.*nothere\.txt' cannot be read: No such file"):
        IntelSet.load([str(tmp_path / "nothere.txt")])


def test_non_utf8_file_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"1.2.3.4\nb\xe9d.example\n")
    with pytest.raises(IntelError, match=r"line 2: not UTF-8 text \(byte 0xe9\)"):
        IntelSet.load([str(path)])


# ------------------------------------------------------------ IPs and CIDRs

def test_ipv6_cidrs_and_addresses_match(tmp_path):
    path = write(tmp_path, "v6.txt", "2001:db8:bad::/48\n2001:DB8::99\n2001:db8:bad:1::/64\n")
    intel = IntelSet.load([path])
    assert values(intel.match_ip("2001:db8:bad:1::5")) == [("ip", "2001:db8:bad:1::/64"),
                                                           ("ip", "2001:db8:bad::/48")]
    assert values(intel.match_ip("2001:db8:bad:2::5")) == [("ip", "2001:db8:bad::/48")]
    assert values(intel.match_ip("2001:db8::99")) == [("ip", "2001:db8::99")]
    assert intel.match_ip("2001:db8::98") == ()
    assert intel.match_ip("2001:db9::") == ()


def test_nested_and_overlapping_networks_all_match(tmp_path):
    path = write(tmp_path, "nets.txt", "10.0.0.0/8\n10.1.0.0/16\n10.1.2.3\n10.1.255.255\n")
    intel = IntelSet.load([path])
    # the narrowest network first, like domains (most specific first)
    assert values(intel.match_ip("10.1.2.3")) == [("ip", "10.1.2.3"), ("ip", "10.1.0.0/16"),
                                                  ("ip", "10.0.0.0/8")]
    assert len(intel.match_ip("10.1.255.255")) == 3
    assert values(intel.match_ip("10.2.0.0")) == [("ip", "10.0.0.0/8")]
    assert values(intel.match_ip("10.255.255.255")) == [("ip", "10.0.0.0/8")]
    assert intel.match_ip("11.0.0.0") == () and intel.match_ip("9.255.255.255") == ()


def test_ipv4_and_ipv6_tables_stay_apart_and_mapped_addresses_count_as_ipv4(tmp_path):
    path = write(tmp_path, "nets.txt", "0.0.0.0/1\n::ffff:203.0.113.0/120\n")
    intel = IntelSet.load([path])
    assert intel.match_ip("::1") == ()                      # ::1 is not 0.0.0.1
    assert values(intel.match_ip("::ffff:10.0.0.1")) == [("ip", "0.0.0.0/1")]
    assert values(intel.match_ip("203.0.113.4")) == [("ip", "203.0.113.0/24")]


def test_host_bits_in_a_network_are_dropped(tmp_path):
    intel = IntelSet.load([write(tmp_path, "n.txt", "192.0.2.77/24\n")])
    assert values(intel.match_ip("192.0.2.1")) == [("ip", "192.0.2.0/24")]


def test_match_ip_accepts_ipaddress_objects_and_ignores_garbage(tmp_path):
    intel = IntelSet.load([write(tmp_path, "n.txt", "192.0.2.0/24\n")])
    assert len(intel.match_ip(parse_network("192.0.2.5").network_address)) == 1
    for junk in ("", "192.0.2", "192.0.2.1.5", "fe80::1%eth0", "x"):
        assert intel.match_ip(junk) == ()


def test_range_table_edges_and_whole_space():
    table = IpRangeTable([("0.0.0.0/0", "all"), ("255.255.255.255", "top"), ("::/0", "all6")])
    assert table.lookup("0.0.0.0") == ("all",)
    assert table.lookup("255.255.255.255") == ("top", "all")
    assert table.lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == ("all6",)
    assert IpRangeTable([]).lookup("1.2.3.4") == ()


# ------------------------------------------------------------------- domains

def test_a_domain_matches_itself_and_names_below_it(tmp_path):
    intel = IntelSet.load([write(tmp_path, "d.txt", "evil.com\nb.evil.com\n")])
    assert values(intel.match_domain("a.b.evil.com")) == [("domain", "b.evil.com"),
                                                          ("domain", "evil.com")]
    assert values(intel.match_domain("evil.com")) == [("domain", "evil.com")]
    assert intel.match_domain("notevil.com") == ()
    assert intel.match_domain("evil.com.au") == ()
    assert intel.match_domain("com") == ()


def test_domain_matching_ignores_case_and_a_trailing_dot(tmp_path):
    intel = IntelSet.load([write(tmp_path, "d.txt", "Evil.COM.\n")])
    assert values(intel.match_domain("WWW.EVIL.com.")) == [("domain", "evil.com")]


def test_a_wildcard_domain_matches_only_below_it(tmp_path):
    intel = IntelSet.load([write(tmp_path, "d.txt", "*.cdn.example\n")])
    assert len(intel.match_domain("x.cdn.example")) == 1
    assert intel.match_domain("cdn.example") == ()


def test_domain_matching_never_raises_on_hostile_names(tmp_path):
    intel = IntelSet.load([write(tmp_path, "d.txt", "evil.com\n")])
    for name in ("", ".", "..", "\udcff.evil.com", "a" * 5000, b"x.evil.com", "xn--\u00e9.com"):
        intel.match_domain(name)
    assert len(intel.match_domain(b"x.evil.com")) == 1


def test_internationalised_domains_are_stored_as_a_labels(tmp_path):
    intel = IntelSet.load([write(tmp_path, "d.txt", "bücher.example\n")])
    assert values(intel.match_domain("www.xn--bcher-kva.example")) == [
        ("domain", "xn--bcher-kva.example")]


# -------------------------------------------------------------- fingerprints

def test_certificate_fingerprints_match_in_any_case_with_or_without_colons(tmp_path):
    colon = ":".join(SHA1[i:i + 2] for i in range(0, 40, 2)).upper()
    intel = IntelSet.load([write(tmp_path, "c.txt", f"{colon}\n{SHA256.upper()}\n")])
    assert values(intel.match_cert(sha1=SHA1)) == [("cert_sha1", SHA1)]
    assert values(intel.match_cert(sha1=colon.lower())) == [("cert_sha1", SHA1)]
    assert values(intel.match_cert(sha256=":".join(SHA256[i:i + 2] for i in range(0, 64, 2)))) \
        == [("cert_sha256", SHA256)]
    assert len(intel.match_cert(sha1=SHA1, sha256=SHA256)) == 2
    assert intel.match_cert() == () and intel.match_cert(sha1="zz") == ()


def test_ja3_matches_in_any_case_and_ja4_exactly(tmp_path):
    intel = IntelSet.load([write(tmp_path, "f.txt", f"{JA3.upper()}\n{JA4}\n")])
    assert len(intel.match_ja3(JA3)) == 1 and len(intel.match_ja3(JA3.upper())) == 1
    assert len(intel.match_ja4(JA4)) == 1
    assert intel.match_ja4(JA4.replace("t13d", "t12d")) == ()
    assert intel.match_ja3(None) == () and intel.match_ja4("") == ()


# ----------------------------------------------------------------------- CSV

def test_generic_csv_with_header_reads_type_value_description(tmp_path):
    path = write(tmp_path, "feed.csv", f"""type,value,description
ip,203.0.113.7,C2 server
cidr,2001:db8::/32,bad range
domain,evil.example,"phishing, kit"
hostname,c2.example,
sha1,{SHA1},cert of X
x509-fingerprint-sha256,{SHA256},
ja3,{JA3},Cobalt Strike default
ja4,{JA4},
""")
    intel = IntelSet.load([path])
    assert intel.counts() == {"ip": 2, "domain": 2, "cert_sha1": 1, "cert_sha256": 1,
                              "ja3": 1, "ja4": 1}
    hit = intel.match_domain("x.evil.example")[0]
    assert (hit.source, hit.line, hit.description) == (path, 4, "phishing, kit")
    assert intel.match_ja3(JA3)[0].description == "Cobalt Strike default"
    assert intel.match_ip("2001:db8::1")[0].line == 3


def test_generic_csv_without_header_and_unquoted_commas_in_the_description(tmp_path):
    path = write(tmp_path, "feed.csv", "# no header\nip,192.0.2.1\ndomain,x.example,a, b\n")
    intel = IntelSet.load([path])
    assert intel.match_ip("192.0.2.1")[0].description == ""
    assert intel.match_domain("x.example")[0].description == "a, b"


def test_a_one_column_csv_file_is_read_as_a_plain_list(tmp_path):
    path = write(tmp_path, "ips.csv", "# exported list\n203.0.113.7\n")
    assert IntelSet.load([path]).match_ip("203.0.113.7")[0].line == 2


def test_headerless_csv_row_with_one_column_is_an_error(tmp_path):
    path = write(tmp_path, "feed.csv", "ip,192.0.2.1\n192.0.2.2\n")
    with pytest.raises(IntelError, match=r"line 2: expected 2 to 3 columns "
                                         r"\(type,value,description\), found 1"):
        IntelSet.load([path])


def test_csv_unknown_type_is_an_error_naming_file_and_line(tmp_path):
    path = write(tmp_path, "feed.csv", "type,value\nip,192.0.2.1\nurl,http://x.example/\n")
    with pytest.raises(IntelError, match=r"line 3: unknown indicator type 'url'; known types"):
        IntelSet.load([path])


def test_csv_value_of_the_wrong_kind_is_an_error_naming_file_and_line(tmp_path):
    path = write(tmp_path, "feed.csv", f"type,value\nsha256,{SHA1}\n")
    with pytest.raises(IntelError) as err:
        IntelSet.load([path])
    assert str(err.value) == (f"Threat-intelligence file '{path}', line 2: '{SHA1}' is not "
                              f"a SHA-256 fingerprint (64 hex digits).")


def test_csv_row_with_too_few_columns_is_an_error(tmp_path):
    path = write(tmp_path, "feed.csv", "type,value\nip\n")
    with pytest.raises(IntelError, match=r"line 2: expected 2 columns \(type,value\), found 1"):
        IntelSet.load([path])


SSLBL_HEADER = """################################################################
# abuse.ch SSLBL SSL Certificate Blacklist (SHA1 Fingerprints) #
# Last updated: 2026-11-27 06:17:52 UTC                        #
#                                                              #
# Terms Of Use: https://sslbl.abuse.ch/blacklist/              #
# For questions please contact sslbl [at] abuse.ch             #
################################################################
#
"""


def test_sslbl_certificate_blacklist_csv(tmp_path):
    path = write(tmp_path, "sslblacklist.csv", SSLBL_HEADER + f"""# Listingdate,SHA1,Listingreason
2026-11-27 06:17:52,{SHA1},Rhadamanthys C&C
2026-11-27 05:19:10,b785d1a9e5784703b98a96698ad05dff5e07229a,DCRat C&C
""")
    intel = IntelSet.load([path])
    assert intel.counts()["cert_sha1"] == 2
    hit = intel.match_cert(sha1=SHA1.upper())[0]
    assert (hit.line, hit.description) == (10, "Rhadamanthys C&C; listed 2026-11-27 06:17:52")


def test_sslbl_ja3_fingerprint_blacklist_csv(tmp_path):
    path = write(tmp_path, "ja3_fingerprints.csv", """# abuse.ch SSLBL JA3 Fingerprint Blacklist
# ja3_md5,Firstseen,Lastseen,Listingreason
b386946a5a44d1ddcc843bc75336dfce,2017-07-14 18:08:15,2019-07-27 20:42:54,Dridex
1aa7bf8b97e540ca5edd75f7b8384bfa,2017-07-14 20:23:38,2019-07-28 01:38:22,TrickBot
""")
    intel = IntelSet.load([path])
    hit = intel.match_ja3("1aa7bf8b97e540ca5edd75f7b8384bfa")[0]
    assert hit.line == 4
    assert hit.description == ("TrickBot; first seen 2017-07-14 20:23:38; "
                               "last seen 2019-07-28 01:38:22")


def test_sslbl_botnet_c2_ip_blacklist_csv(tmp_path):
    path = write(tmp_path, "sslipblacklist.csv", """# abuse.ch SSLBL Botnet C2 IP Blacklist
# Firstseen,DstIP,DstPort
2026-11-01 10:00:00,91.219.236.222,443
2026-11-02 11:00:00,141.98.10.60,447
""")
    intel = IntelSet.load([path])
    hit = intel.match_ip("141.98.10.60")[0]
    assert (hit.kind, hit.line) == ("ip", 4)
    assert hit.description == "first seen 2026-11-02 11:00:00; port 447"


def test_feodo_tracker_csv_uses_the_malware_column(tmp_path):
    path = write(tmp_path, "ipblocklist.csv", """# Firstseen,DstIP,DstPort,LastOnline,Malware
2020-10-29 19:16:38,181.120.29.49,80,2020-11-02,Heodo
""")
    assert IntelSet.load([path]).match_ip("181.120.29.49")[0].description.startswith("Heodo;")


def test_sslbl_malformed_fingerprint_is_an_error_naming_file_and_line(tmp_path):
    path = write(tmp_path, "sslblacklist.csv", SSLBL_HEADER + """# Listingdate,SHA1,Listingreason
2026-11-27 06:17:52,not-a-hash,Junk
""")
    with pytest.raises(IntelError, match=r"line 10: 'not-a-hash' is not a SHA-1 fingerprint"):
        IntelSet.load([path])


def test_sslbl_row_with_missing_columns_is_an_error(tmp_path):
    path = write(tmp_path, "ja3.csv", f"# ja3_md5,Firstseen,Lastseen,Listingreason\n{JA3},x\n")
    with pytest.raises(IntelError, match=r"line 2: expected 4 columns"):
        IntelSet.load([path])


# ---------------------------------------------------------------------- STIX

def stix_bundle(*indicators):
    objects = [{"type": "identity", "spec_version": "2.1", "id": "identity--1",
                "name": "feed"}]
    for i, (pattern, extra) in enumerate(indicators):
        obj = {"type": "indicator", "spec_version": "2.1",
               "id": f"indicator--00000000-0000-4000-8000-{i:012d}",
               "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
               "pattern": pattern, "pattern_type": "stix",
               "valid_from": "2026-11-01T00:00:00Z"}
        obj.update(extra)
        objects.append(obj)
    return json.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}, indent=2)


def test_stix_bundle_every_supported_path(tmp_path):
    path = write(tmp_path, "bundle.json", stix_bundle(
        ("[ipv4-addr:value = '203.0.113.7']", {"name": "C2 address"}),
        ("[ipv6-addr:value = '2001:db8:bad::/48']", {}),
        ("[domain-name:value = 'evil.example']", {"description": "phishing"}),
        (f"[x509-certificate:hashes.'SHA-1' = '{SHA1.upper()}']", {}),
        (f"[x509-certificate:hashes.'SHA-256' = '{SHA256}']", {}),
        (f"[network-traffic:extensions.'x-ja3'.hash = '{JA3}']", {}),
        (f"[x-tls-fingerprint:x_ja4 = '{JA4}']", {}),
        ("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", {}),
        ("[network-traffic:dst_ref.value = '192.0.2.9']", {}),
    ))
    intel = IntelSet.load([path])
    assert intel.counts() == {"ip": 4, "domain": 1, "cert_sha1": 1, "cert_sha256": 1,
                              "ja3": 1, "ja4": 1}
    assert intel.skipped == ()
    hit = intel.match_ip("203.0.113.7")[0]
    assert (hit.description, hit.ref) == ("C2 address", "indicator--00000000-0000-4000-8000-"
                                                         "000000000000")
    text = open(path).read().splitlines()
    assert hit.ref in text[hit.line - 1]
    assert intel.match_domain("a.evil.example")[0].description == "phishing"
    assert len(intel.match_cert(sha1=SHA1)) == 1 and len(intel.match_cert(sha256=SHA256)) == 1
    assert len(intel.match_ja3(JA3)) == 1 and len(intel.match_ja4(JA4)) == 1
    assert len(intel.match_ip("198.51.100.77")) == 1 and len(intel.match_ip("192.0.2.9")) == 1
    assert len(intel.match_ip("2001:db8:bad::1")) == 1


def test_stix_or_patterns_give_one_indicator_per_term(tmp_path):
    path = write(tmp_path, "bundle.json", stix_bundle(
        ("[ipv4-addr:value = '203.0.113.7'] OR [ipv4-addr:value = '203.0.113.8']", {}),
        ("([domain-name:value = 'a.example' OR domain-name:value = 'b.example'])", {}),
    ))
    intel = IntelSet.load([path])
    assert intel.counts()["ip"] == 2 and intel.counts()["domain"] == 2
    assert intel.match_ip("203.0.113.8")[0].ref == intel.match_ip("203.0.113.7")[0].ref
    assert intel.match_domain("b.example")[0].line == intel.match_domain("a.example")[0].line


def test_stix_unsupported_patterns_are_skipped_and_counted(tmp_path, caplog):
    path = write(tmp_path, "bundle.json", stix_bundle(
        ("[ipv4-addr:value = '203.0.113.7']", {}),
        ("[ipv4-addr:value = '1.1.1.1' AND network-traffic:dst_port = 443]", {}),
        (f"[file:hashes.'SHA-256' = '{SHA256}']", {}),
        ("[url:value = 'http://x.example/']", {}),
        ("[domain-name:value MATCHES '^evil']", {}),
        ("[ipv4-addr:value = '1.1.1.2'] WITHIN 300 SECONDS", {}),
        ("[x509-certificate:hashes.'MD5' = 'aa']", {}),
        ("[ipv4-addr:value = '1.1.1.3']", {"revoked": True}),
        ("alert tcp any any -> any any", {"pattern_type": "snort"}),
        ("[ipv4-addr:value = '203.0.113.9'] OR [url:value = 'http://y.example/']", {}),
    ))
    intel = IntelSet.load([path])
    assert values(intel.indicators) == [("ip", "203.0.113.7"), ("ip", "203.0.113.9")]
    assert len(intel.skipped) == 9
    reasons = [s.reason for s in intel.skipped]
    assert reasons[0].startswith("unsupported pattern (AND in pattern)")
    assert "file hashes and names are not visible" in reasons[1]
    assert reasons[6] == "revoked indicator" and reasons[7] == "pattern_type 'snort'"
    assert reasons[8].startswith("unsupported term (object path url:value)")
    assert all(s.source == path and s.line > 1 for s in intel.skipped)
    assert "9 STIX indicator terms skipped" in caplog.text


def test_stix_malformed_pattern_is_an_error_naming_file_and_line(tmp_path):
    path = write(tmp_path, "bundle.json", stix_bundle(
        ("[ipv4-addr:value = '203.0.113.7']", {}),
        ("[ipv4-addr:value = '203.0.113.8'", {}),
    ))
    line = open(path).read().splitlines().index(
        '      "id": "indicator--00000000-0000-4000-8000-000000000001",') + 1
    with pytest.raises(IntelError, match=rf"line {line}: STIX pattern .* is malformed: the "
                                         rf"pattern ends too early"):
        IntelSet.load([path])


def test_stix_bad_value_is_an_error_naming_file_and_line(tmp_path):
    path = write(tmp_path, "bundle.json", stix_bundle(("[ipv4-addr:value = '300.1.1.1']", {})))
    with pytest.raises(IntelError, match=r"line 1\d: '300.1.1.1' is not an IP address"):
        IntelSet.load([path])


def test_stix_invalid_json_is_an_error_naming_file_and_line(tmp_path):
    path = write(tmp_path, "bundle.json", '{"type": "bundle",\n "objects": [\n  {"type": }\n]}')
    with pytest.raises(IntelError, match=r"line 3: not valid JSON: Expecting value"):
        IntelSet.load([path])


def test_stix_indicator_without_pattern_is_an_error(tmp_path):
    path = write(tmp_path, "one.json", json.dumps({"type": "indicator", "id": "indicator--x"}))
    with pytest.raises(IntelError, match=r"line 1: STIX indicator indicator--x has no pattern"):
        IntelSet.load([path])


def test_stix_json_that_is_not_stix_is_an_error(tmp_path):
    path = write(tmp_path, "x.json", '{"hello": 1}')
    with pytest.raises(IntelError, match=r"not a STIX 2.1 bundle"):
        IntelSet.load([path])


# ------------------------------------------------------- sets, reload, config

def test_several_files_each_matching_indicator_is_returned_with_its_source(tmp_path):
    a = write(tmp_path, "a.txt", "203.0.113.7\n203.0.113.7\n")
    b = write(tmp_path, "b.csv", "ip,203.0.113.0/24,from b\n")
    intel = IntelSet.load([a, b])
    assert [(m.source, m.line) for m in intel.match_ip("203.0.113.7")] == [(a, 1), (b, 1)]
    assert intel.match_ip("203.0.113.7")[1].description == "from b"
    assert len(intel) == 2


def test_reloading_builds_a_fresh_set_and_leaves_the_old_one_alone(tmp_path):
    path = write(tmp_path, "a.txt", "203.0.113.7\n")
    old = IntelSet.load([path])
    write(tmp_path, "a.txt", "203.0.113.8\n")
    new = IntelSet.load([path])
    assert old.match_ip("203.0.113.7") and not old.match_ip("203.0.113.8")
    assert new.match_ip("203.0.113.8") and not new.match_ip("203.0.113.7")


def test_an_empty_set_matches_nothing():
    intel = IntelSet.load([])
    assert not intel and intel.match_ip("1.2.3.4") == () and intel.match_domain("x.com") == ()


def test_intel_config_from_table_and_load(tmp_path):
    path = write(tmp_path, "a.txt", "203.0.113.7\n")
    cfg = IntelConfig.from_table({"files": [path]})
    assert cfg == IntelConfig((path,))
    assert IntelSet.from_config(cfg).match_ip("203.0.113.7")
    assert IntelConfig.from_table({}) == IntelConfig()


@pytest.mark.parametrize("table, message", [
    ({"files": 3}, "Configuration key 'intel.files' must be a list of file paths, not 3."),
    ({"files": ["a", 4]}, "Configuration key 'intel.files[1]' must be a file path, not 4."),
    ({"file": []}, "Configuration key 'intel.file' is not known; [intel] takes: files."),
    ("x", "Configuration key 'intel' must be a table, not 'x'."),
])
def test_intel_config_errors_name_the_full_key(table, message):
    with pytest.raises(ConfigError) as err:
        IntelConfig.from_table(table)
    assert str(err.value) == message


def test_lookups_in_a_large_set_find_the_narrowest_and_every_parent_match(tmp_path):
    lines = [f"10.{i >> 8 & 255}.{i & 255}.0/24" for i in range(20000)]
    lines += [f"{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}.1" for i in range(1, 20000)]
    lines += [f"host{i}.evil{i % 97}.example" for i in range(20000)]
    intel = IntelSet.load([write(tmp_path, "big.txt", "\n".join(lines))])
    assert [h.value for h in intel.match_ip("10.0.5.9")] == ["10.0.5.0/24"]
    assert [h.value for h in intel.match_domain("a.b.host3.evil3.example")] == \
        ["host3.evil3.example"]
    assert intel.match_domain("a.b.host4.evil3.example") == ()


def test_crlf_line_endings_and_a_byte_order_mark_are_accepted(tmp_path):
    path = tmp_path / "sslbl.csv"
    path.write_bytes(b"\xef\xbb\xbf# Listingdate,SHA1,Listingreason\r\n"
                     + f"2026-11-27 06:17:52,{SHA1},AsyncRAT C&C\r\n".encode())
    hit = IntelSet.load([str(path)]).match_cert(sha1=SHA1)[0]
    assert (hit.line, hit.description) == (2, "AsyncRAT C&C; listed 2026-11-27 06:17:52")
