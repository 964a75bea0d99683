"""The baseline store: first seen, host counts, daily upload, pruning (engine/baseline.py)."""
import socket
import threading

import pytest

from engine.baseline import (DAY_US, BaselineConfig, BaselineStore, Novelty, SqliteBaseline,
                             open_state, registered_domain, session_observations)
from engine.errors import ConfigError

T0 = 1_700_000_000_000_000 // DAY_US * DAY_US       # a UTC midnight, in µs
H = 3_600_000_000


@pytest.fixture
def state(tmp_path):
    return str(tmp_path / "state")


def test_sqlite_baseline_implements_the_store_interface():
    assert isinstance(SqliteBaseline(), BaselineStore)


# ---------------------------------------------------------------- first seen

def test_value_is_new_for_the_org_once_and_for_each_host_once():
    b = SqliteBaseline()
    assert b.observe("sni", "drop.example", "10.0.0.1", T0) == Novelty(True, True)
    assert b.observe("sni", "drop.example", "10.0.0.1", T0 + 1) == Novelty(False, False)
    assert b.observe("sni", "drop.example", "10.0.0.2", T0 + 2) == Novelty(False, True)
    assert b.observe("ja4", "drop.example", "10.0.0.1", T0) == Novelty(True, True)   # kinds apart
    e = b.lookup("sni", "drop.example")
    assert (e.first_seen_us, e.last_seen_us, e.host_count) == (T0, T0 + 2, 2)


def test_answers_are_the_same_before_and_after_a_batch_is_written():
    b = SqliteBaseline(config=BaselineConfig(batch_size=1))
    assert b.observe("dest_ip", "198.51.100.7", "10.0.0.1", T0) == Novelty(True, True)
    assert b.counts()["entity"] == 1                      # written already
    assert b.observe("dest_ip", "198.51.100.7", "10.0.0.1", T0) == Novelty(False, False)
    assert b.observe("dest_ip", "198.51.100.7", "10.0.0.3", T0) == Novelty(False, True)
    assert b.lookup("dest_ip", "198.51.100.7").host_count == 2


def test_observe_many_answers_in_order_within_one_batch():
    b = SqliteBaseline()
    answers = b.observe_many([("sni", "a.example", "h1", T0), ("sni", "a.example", "h2", T0),
                              ("sni", "a.example", "h1", T0), ("sni", "b.example", "h1", T0)])
    assert answers == [Novelty(True, True), Novelty(False, True), Novelty(False, False),
                       Novelty(True, True)]


def test_first_and_last_seen_are_packet_time_min_and_max_whatever_the_order():
    b = SqliteBaseline()
    b.observe("sni", "x.example", "h", T0 + 5 * H)
    b.flush()
    b.observe("sni", "x.example", "h", T0 + 1 * H)
    b.observe("sni", "x.example", "h", T0 + 3 * H)
    b.flush()
    e = b.lookup("sni", "x.example")
    assert (e.first_seen_us, e.last_seen_us) == (T0 + H, T0 + 5 * H)
    assert b.host_entity("sni", "x.example", "h") == (T0 + H, T0 + 5 * H)


def test_unknown_kind_is_a_programmer_error():
    with pytest.raises(ValueError, match="Unknown baseline kind"):
        SqliteBaseline().observe("url", "x", "h", T0)


def test_session_observations_include_the_registered_domain():
    obs = session_observations("10.0.0.1", T0, dest_ip="198.51.100.1", sni="Files.Example.CO.UK.",
                               ja4="t13d1516h2_8daaf6152771_b0da82dd1658", cert_sha256="AB" * 32)
    assert [(k, v) for k, v, _h, _t in obs] == [
        ("dest_ip", "198.51.100.1"), ("sni", "files.example.co.uk"), ("domain", "example.co.uk"),
        ("ja4", "t13d1516h2_8daaf6152771_b0da82dd1658"), ("cert_sha256", "ab" * 32)]


# ---------------------------------------------------------------- registered domains

@pytest.mark.parametrize("name, private, domain", [
    ("www.example.com", True, "example.com"),
    ("a.b.example.co.uk", True, "example.co.uk"),
    ("evil.github.io", True, "evil.github.io"),       # private PSL section: one tenant
    ("evil.github.io", False, "github.io"),
    ("localhost", True, None),
    ("corp.internal", True, None),
    ("192.0.2.1", True, None),
    ("[2001:db8::1]", True, None),
    ("", True, None),
])
def test_registered_domain_follows_the_public_suffix_list(name, private, domain):
    assert registered_domain(name, private) == domain


def test_registered_domain_never_touches_the_network(monkeypatch):
    import engine.baseline as bl
    bl._extractor.cache_clear()
    bl.registered_domain.cache_clear()

    def refuse(*args, **kwargs):
        raise AssertionError("network access at run time")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert registered_domain("deep.sub.example.org") == "example.org"


# ---------------------------------------------------------------- persistence

def test_state_survives_close_and_reopen(state):
    b = open_state(state, source="live:eth0:1")
    b.observe("cert_sha256", "aa" * 32, "10.0.0.1", T0)
    b.add_upload("10.0.0.1", T0, 5000)
    b.close()                                              # writes the pending batch
    b = open_state(state, source="live:eth0:2")            # a restart: a new run, a new source
    assert b.observe("cert_sha256", "aa" * 32, "10.0.0.1", T0 + H) == Novelty(False, False)
    assert b.observe("cert_sha256", "aa" * 32, "10.0.0.2", T0 + H) == Novelty(False, True)
    b.add_upload("10.0.0.1", T0 + H, 700)
    assert b.upload_stats("10.0.0.1", T0).current == 5700
    b.close()


def test_a_run_with_the_same_source_replaces_that_sources_days_instead_of_adding(state):
    for _ in range(3):
        b = open_state(state, source="replay:capture-a")
        b.add_upload("10.0.0.1", T0, 5000)
        b.close()
    b = open_state(state, source="report", )
    assert b.upload_stats("10.0.0.1", T0).current == 5000
    b.close()


def test_state_file_is_in_wal_mode(state):
    b = open_state(state)
    assert b._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    b.close()


def test_a_newer_schema_is_refused_with_a_sentence(state):
    b = open_state(state)
    b._db.execute("PRAGMA user_version = 99")
    b.close()
    with pytest.raises(ConfigError, match="schema version 99"):
        open_state(state)


def test_two_instances_share_one_state_and_see_each_others_batches(state):
    a = open_state(state, source="live:eth0")
    b = open_state(state, source="replay:x")
    a.observe("sni", "one.example", "h1", T0)
    a.flush()
    assert b.observe("sni", "one.example", "h2", T0) == Novelty(False, True)
    b.flush()
    assert a.lookup("sni", "one.example").host_count == 2
    a.close()
    a = open_state(state)                                  # reopen while b holds the file
    assert a.lookup("sni", "one.example").host_count == 2
    reader = SqliteBaseline(f"{state}/baseline.sqlite", read_only=True)
    assert reader.lookup("sni", "one.example") is not None
    reader.close()
    a.close()
    b.close()


def _probes(baseline) -> list:
    """The existence queries the store sends to its file from now on."""
    sent = []
    baseline._db.set_trace_callback(
        lambda sql: sent.append(sql) if sql.startswith(("SELECT 1 FROM", "SELECT t.")) else None)
    return sent


def test_a_private_in_memory_store_answers_novelty_without_asking_its_file():
    b = SqliteBaseline()
    probes = _probes(b)
    assert b.observe("sni", "a.example", "h1", T0) == Novelty(True, True)
    b.flush()
    assert b.observe_many([("sni", "a.example", "h1", T0 + 1), ("sni", "a.example", "h2", T0 + 2),
                           ("sni", "b.example", "h1", T0 + 3)]) == [
        Novelty(False, False), Novelty(False, True), Novelty(True, True)]
    assert probes == []


def test_a_shared_file_is_asked_only_about_keys_this_instance_has_not_met(state):
    a, b = open_state(state, source="a"), open_state(state, source="b")
    a.observe("sni", "one.example", "h1", T0)
    a.flush()
    probes = _probes(b)
    assert b.observe("sni", "one.example", "h2", T0) == Novelty(False, True)   # a wrote it
    asked = len(probes)
    assert asked > 0
    b.flush()
    assert b.observe("sni", "one.example", "h2", T0 + 1) == Novelty(False, False)
    assert len(probes) == asked                  # written by b itself: not asked again
    a.close()
    b.close()


def test_beyond_the_remembered_keys_the_store_asks_its_file_and_answers_the_same(monkeypatch):
    monkeypatch.setattr("engine.baseline.MAX_STORED_KEYS", 2)
    b = SqliteBaseline()
    for i in range(4):
        b.observe("dest_ip", f"198.51.100.{i}", "h1", T0 + i)
    b.flush()                                    # 4 keys per table: more than remembered
    probes = _probes(b)
    assert b.observe("dest_ip", "198.51.100.0", "h1", T0 + 9) == Novelty(False, False)
    assert b.observe("dest_ip", "198.51.100.9", "h1", T0 + 9) == Novelty(True, True)
    assert probes


def test_concurrent_writers_in_threads_lose_nothing(state):
    open_state(state).close()
    errors = []

    def writer(n):
        try:
            b = open_state(state, BaselineConfig(batch_size=50), source=f"w{n}")
            for i in range(500):
                b.observe("dest_ip", f"198.51.{n}.{i % 250}", f"10.0.{n}.{i}", T0 + i)
            b.close()
        except Exception as err:                          # pragma: no cover - the failure
            errors.append(err)
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    b = open_state(state)
    assert b.counts()["entity"] == 4 * 250 and b.counts()["entity_host"] == 4 * 500
    b.close()


def test_replaying_the_same_capture_twice_changes_only_first_seen_answers(state):
    def replay():
        b = open_state(state, BaselineConfig(batch_size=7), source="replay:capture-a")
        answers, lookups, uploads = [], [], []
        for i in range(200):
            ts = T0 + i * H // 4                           # 50 hours of packet time
            host = f"10.0.0.{i % 5}"
            answers += b.observe_many(session_observations(
                host, ts, dest_ip=f"198.51.100.{i % 13}", sni=f"s{i % 7}.example.com",
                ja4=f"ja4_{i % 3}", cert_sha256=f"{i % 4:064x}"))
            b.add_upload(host, ts, 1000 * (i % 9))
            e = b.lookup("sni", f"s{i % 7}.example.com")
            lookups.append((e.first_seen_us, e.host_count))
            uploads.append(b.upload_stats(host, ts))
        b.close()
        return answers, lookups, uploads
    answers1, lookups1, uploads1 = replay()
    answers2, lookups2, uploads2 = replay()
    assert any(a.new_for_org for a in answers1)
    assert not any(a.new_for_org or a.new_for_host for a in answers2)
    assert lookups1 == lookups2          # first seen: a min; host counts: as of packet time
    assert uploads1 == uploads2                            # daily volumes replaced, not added


# ---------------------------------------------------------------- upload baseline

def test_daily_upload_stats_give_mean_std_median_and_mad_of_previous_days():
    b = SqliteBaseline()
    for day, volume in enumerate([100, 200, 300, 400, 10_000]):
        b.add_upload("10.0.0.1", T0 + day * DAY_US + H, volume)
    b.add_upload("10.0.0.1", T0 + 5 * DAY_US, 50_000)       # today
    s = b.upload_stats("10.0.0.1", T0 + 5 * DAY_US + 2 * H)
    assert s.days == 5 and s.current == 50_000
    assert s.mean == 2200 and s.median == 300 and s.mad == 100
    assert s.std == pytest.approx(3901.28, rel=1e-5)
    assert s.robust_z() == pytest.approx((50_000 - 300) / 148.26)


def test_days_without_upload_count_as_zero_from_the_hosts_first_day():
    b = SqliteBaseline()
    b.add_upload("h", T0, 700)
    b.add_upload("h", T0 + 3 * DAY_US, 10)
    s = b.upload_stats("h", T0 + 3 * DAY_US)
    assert (s.days, s.mean, s.median) == (3, 700 / 3, 0)
    assert b.upload_stats("never-seen", T0).days == 0
    assert b.upload_stats("never-seen", T0).robust_z() == 0.0


def test_upload_history_is_limited_to_the_configured_days():
    b = SqliteBaseline(config=BaselineConfig(upload_days=3))
    for day in range(10):
        b.add_upload("h", T0 + day * DAY_US, 100 * (day + 1))
    b.flush()
    s = b.upload_stats("h", T0 + 9 * DAY_US)
    assert s.days == 3 and s.mean == 800                   # days 6, 7, 8


def test_upload_of_several_sources_adds_up(state):
    live = open_state(state, source="live:eth0:1")
    live.add_upload("h", T0, 100)
    live.flush()
    replay = open_state(state, source="replay:capture-b")
    replay.add_upload("h", T0 + H, 50)
    replay.flush()
    assert live.upload_stats("h", T0).current == 150
    assert replay.upload_stats("h", T0).current == 150
    live.close()
    replay.close()


def test_late_upload_for_a_day_already_let_go_of_is_added_not_replaced():
    b = SqliteBaseline()
    b.add_upload("h", T0, 100)
    b.add_upload("h", T0 + 5 * DAY_US, 1)
    b.flush()                                              # day 0 leaves memory
    b.add_upload("h", T0 + H, 20)
    b.flush()
    assert b.upload_stats("h", T0 + 2 * H).current == 120


# ---------------------------------------------------------------- bounds

def test_entries_not_seen_for_the_retention_period_are_pruned():
    b = SqliteBaseline(config=BaselineConfig(retention_days=30))
    b.observe("sni", "old.example", "h", T0)
    b.observe("sni", "new.example", "h", T0 + 40 * DAY_US)
    b.add_upload("h", T0, 5)
    deleted = b.prune()
    assert deleted == {"entity": 1, "entity_host": 1, "upload_day": 1}
    assert b.lookup("sni", "old.example") is None
    assert b.observe("sni", "old.example", "h", T0 + 41 * DAY_US) == Novelty(True, True)


def test_row_caps_drop_the_least_recently_seen_first():
    b = SqliteBaseline(config=BaselineConfig(max_entities=10, max_host_entries=15))
    for i in range(30):
        b.observe("dest_ip", f"198.51.100.{i}", "h1", T0 + i)
        b.observe("dest_ip", f"198.51.100.{i}", "h2", T0 + i)
    b.prune()
    counts = b.counts()
    assert counts["entity"] == 10 and counts["entity_host"] <= 15
    assert b.lookup("dest_ip", "198.51.100.29") is not None
    assert b.lookup("dest_ip", "198.51.100.19") is None
    assert b.counters["pruned_cap"] > 0


def test_pruning_runs_by_itself_as_packet_time_passes():
    b = SqliteBaseline(config=BaselineConfig(retention_days=1, prune_interval_s=3600,
                                             batch_size=1))
    b.observe("ja4", "old", "h", T0)
    for i in range(1, 60):
        b.observe("ja4", f"v{i}", "h", T0 + i * H)
    assert b.lookup("ja4", "old") is None and b.counters["prunes"] >= 2


@pytest.mark.parametrize("table, fragment", [
    ({"retention_days": 0}, "'baseline.retention_days' is 0"),
    ({"batch_size": 1.5}, "'baseline.batch_size'"),
    ({"private_suffixes": 1}, "'baseline.private_suffixes' must be true or false"),
    ({"retension_days": 3}, "'baseline.retension_days' is not known"),
])
def test_bad_config_names_the_full_key(table, fragment):
    with pytest.raises(ConfigError) as err:
        BaselineConfig.from_table(table)
    assert fragment in str(err.value)


# ---------------------------------------------------------------- speed

