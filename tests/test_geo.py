"""GeoLookup over .mmdb files the tests write (mmdb_factory), and HighRiskPolicy."""
import maxminddb
import pytest

from engine.errors import ConfigError
from engine.geo import GeoConfig, GeoInfo, GeoLookup, HighRiskPolicy
from mmdb_factory import asn_record, country_record, write_mmdb


@pytest.fixture
def dbs(tmp_path):
    country = write_mmdb(tmp_path / "country.mmdb", {
        "203.0.113.0/24": country_record("RU"),
        "203.0.113.128/25": country_record("CN"),
        "198.51.100.0/24": {"registered_country": {"iso_code": "kp"}},
        "192.0.2.0/24": country_record("DE"),
        "2001:db8:bad::/48": country_record("IR"),
    }, database_type="GeoLite2-Country")
    asn = write_mmdb(tmp_path / "asn.mmdb", {
        "203.0.113.0/24": asn_record(4242420000, "Bulletproof Hosting Ltd"),
        "192.0.2.0/24": asn_record(64500, "Example Cloud"),
        "2001:db8:bad::/48": asn_record(64666, "Six Bad"),
    }, database_type="GeoLite2-ASN")
    return str(country), str(asn)


def test_the_factory_writes_files_maxminddb_reads_in_every_mode(tmp_path):
    path = write_mmdb(tmp_path / "x.mmdb", {"10.0.0.0/8": {"a": [1, 2.5, True, "x"], "n": -3}})
    for mode in (maxminddb.MODE_FILE, maxminddb.MODE_MEMORY, maxminddb.MODE_AUTO):
        with maxminddb.open_database(str(path), mode) as reader:
            assert reader.get("10.9.8.7") == {"a": [1, 2.5, True, "x"], "n": -3}
            assert reader.get("11.0.0.1") is None
            assert reader.metadata().ip_version == 6


def test_the_factory_writes_ipv4_only_trees_with_32_bit_records(tmp_path):
    path = write_mmdb(tmp_path / "v4.mmdb", {"192.0.2.0/25": {"v": 1}, "192.0.2.128/25": {"v": 2}},
                      ip_version=4, record_size=32)
    with maxminddb.open_database(str(path)) as reader:
        assert reader.get("192.0.2.1") == {"v": 1}
        assert reader.get("192.0.2.200") == {"v": 2}
        assert reader.metadata().record_size == 32


def test_lookup_reads_country_and_asn(dbs):
    geo = GeoLookup(*dbs)
    assert geo.lookup("203.0.113.9") == GeoInfo("RU", 4242420000, "Bulletproof Hosting Ltd")
    assert geo.lookup("192.0.2.1") == GeoInfo("DE", 64500, "Example Cloud")


def test_a_longer_prefix_overrides_the_network_around_it(dbs):
    geo = GeoLookup(*dbs)
    assert geo.country("203.0.113.200") == "CN"
    assert geo.country("203.0.113.100") == "RU"


def test_country_falls_back_to_registered_country_upper_cased(dbs):
    assert GeoLookup(*dbs).lookup("198.51.100.1") == GeoInfo("KP", None, None)


def test_ipv6_addresses_are_looked_up(dbs):
    assert GeoLookup(*dbs).lookup("2001:db8:bad::1") == GeoInfo("IR", 64666, "Six Bad")


def test_ipv4_mapped_ipv6_is_looked_up_as_ipv4(dbs):
    assert GeoLookup(*dbs).country("::ffff:203.0.113.9") == "RU"


def test_unknown_private_and_invalid_addresses_give_empty_info(dbs):
    geo = GeoLookup(*dbs)
    for ip in ("8.8.8.8", "10.0.0.1", "fe80::1", "not-an-ip", "::ffff:zz"):
        assert geo.lookup(ip) == GeoInfo()


def test_ipv6_in_an_ipv4_only_database_gives_empty_info(tmp_path):
    path = write_mmdb(tmp_path / "v4.mmdb", {"192.0.2.0/24": country_record("FR")}, ip_version=4)
    geo = GeoLookup(country_db=str(path))
    assert geo.country("192.0.2.3") == "FR"
    assert geo.lookup("2001:db8::1") == GeoInfo()


def test_either_database_may_be_absent(dbs):
    assert GeoLookup(country_db=dbs[0]).lookup("192.0.2.1") == GeoInfo("DE")
    assert GeoLookup(asn_db=dbs[1]).lookup("192.0.2.1") == GeoInfo(None, 64500, "Example Cloud")
    assert GeoLookup().lookup("192.0.2.1") == GeoInfo()


def test_lookups_are_cached_per_address(dbs):
    geo = GeoLookup(*dbs, cache_size=8)
    for _ in range(5):
        geo.lookup("203.0.113.9")
    info = geo.cache_info()
    assert (info.hits, info.misses, info.maxsize) == (4, 1, 8)


def test_a_missing_database_is_a_config_error_naming_the_file(tmp_path):
    missing = tmp_path / "GeoLite2-Country.mmdb"
    with pytest.raises(ConfigError,
                       match=r"country database '.*GeoLite2-Country\.mmdb' does not exist"):
        GeoLookup(country_db=str(missing))


def test_an_unreadable_database_is_a_config_error_naming_the_file(tmp_path, dbs):
    junk = tmp_path / "asn.mmdb"
    junk.write_bytes(b"this is not a MaxMind DB")
    with pytest.raises(ConfigError, match=r"ASN database '.*asn\.mmdb' cannot be read"):
        GeoLookup(country_db=dbs[0], asn_db=str(junk))


def test_a_database_of_the_wrong_kind_is_logged(dbs, caplog):
    GeoLookup(country_db=dbs[1])
    assert "type 'GeoLite2-ASN'" in caplog.text


def test_high_risk_policy_gives_a_reason_per_matching_country_and_asn(dbs):
    geo = GeoLookup(*dbs)
    policy = HighRiskPolicy(countries=["ru", "KP"], asns=["AS4242420000", 64666])
    reasons = policy.reasons(geo.lookup("203.0.113.9"), ip="203.0.113.9")
    assert [(r.kind, r.value) for r in reasons] == [("country", "RU"), ("asn", "AS4242420000")]
    assert str(reasons[0]) == "destination 203.0.113.9 is in high-risk country RU"
    assert reasons[1].text == ("destination 203.0.113.9 is in high-risk AS4242420000 "
                               "(Bulletproof Hosting Ltd)")
    assert [r.kind for r in policy.reasons(geo.lookup("2001:db8:bad::5"))] == ["asn"]
    assert policy.reasons(geo.lookup("192.0.2.1")) == ()
    assert policy.reasons(GeoInfo()) == ()


def test_an_empty_policy_is_false_and_finds_nothing():
    policy = HighRiskPolicy()
    assert not policy
    assert policy.reasons(GeoInfo("RU", 1, "x")) == ()


def test_high_risk_policy_rejects_bad_codes():
    with pytest.raises(ConfigError, match=r"'geo.high_risk_countries\[1\]' must be a two-letter"):
        HighRiskPolicy(countries=["RU", "Russia"])
    with pytest.raises(ConfigError, match=r"'geo.high_risk_asns\[0\]' must be an AS number"):
        HighRiskPolicy(asns=["ASX"])


def test_geo_config_from_table_reads_every_key(dbs):
    cfg = GeoConfig.from_table({"country_db": dbs[0], "asn_db": dbs[1],
                                "high_risk_countries": ["ru"], "high_risk_asns": ["as64666", 7],
                                "cache_size": 100})
    assert cfg == GeoConfig(dbs[0], dbs[1], ("RU",), (64666, 7), 100)
    assert GeoLookup.from_config(cfg).country("203.0.113.9") == "RU"
    assert HighRiskPolicy.from_config(cfg).countries == {"RU"}
    assert GeoConfig.from_table({}) == GeoConfig()


@pytest.mark.parametrize("table, message", [
    ({"country_db": 3}, "Configuration key 'geo.country_db' must be the path of a MaxMind DB "
                        "file, not 3."),
    ({"high_risk_countries": "RU"}, "Configuration key 'geo.high_risk_countries' must be a list"),
    ({"high_risk_asns": [True]}, "Configuration key 'geo.high_risk_asns[0]' must be an AS"),
    ({"cache_size": -1}, "Configuration key 'geo.cache_size' must be a whole number"),
    ({"country": "x"}, "Configuration key 'geo.country' is not known"),
])
def test_geo_config_errors_name_the_full_key(table, message):
    with pytest.raises(ConfigError) as err:
        GeoConfig.from_table(table)
    assert str(err.value).startswith(message)


def test_geo_config_where_prefixes_the_key():
    with pytest.raises(ConfigError, match=r"'sensor.geo.asn_db'"):
        GeoConfig.from_table({"asn_db": ""}, where="sensor.geo")
    with pytest.raises(ConfigError, match=r"Configuration key 'geo' must be a table"):
        GeoConfig.from_table(["x"])
