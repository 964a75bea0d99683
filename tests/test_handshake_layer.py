"""The handshake layer's own framing and naming, on literal bytes."""
import pytest

from engine._core import split_tls_records
from engine.handshake import name_preamble, split_datagrams, tls_version_name

from conversations import handshake_message, tls_record

HELLO = handshake_message(1, bytes(40))


def test_handshake_records_are_joined_and_stop_at_application_data():
    data = (tls_record(22, HELLO[:10]) + tls_record(22, HELLO[10:]) + tls_record(23, b"secret")
            + tls_record(22, b"never read"))
    assert split_tls_records(data) == (HELLO, [], False)


def test_finished_after_change_cipher_spec_is_not_taken_for_clear_text():
    data = tls_record(22, HELLO) + tls_record(20, b"\x01") + tls_record(22, bytes(40))
    assert split_tls_records(data)[0] == HELLO


def test_second_client_hello_after_change_cipher_spec_is_kept():
    second = handshake_message(1, bytes(50))
    data = tls_record(22, HELLO) + tls_record(20, b"\x01") + tls_record(22, second)
    assert split_tls_records(data)[0] == HELLO + second


def test_alerts_in_the_clear_are_reported():
    data = tls_record(22, HELLO) + tls_record(21, b"\x02\x28")
    assert split_tls_records(data)[1] == [(2, 40)]


def test_broken_record_framing_is_reported_and_what_came_before_kept():
    assert split_tls_records(tls_record(22, HELLO) + b"GET / HTTP/1.1\r\n") == (HELLO, [], True)


def test_record_cut_by_the_capture_keeps_the_bytes_that_are_there():
    assert split_tls_records(tls_record(22, HELLO)[:-5])[0] == HELLO[:-5]


@pytest.mark.parametrize("cut", range(0, 60))
def test_any_truncation_never_raises(cut):
    split_tls_records((tls_record(22, HELLO) + tls_record(21, b"\x02\x28"))[:cut])


@pytest.mark.parametrize("version,name", [
    (None, "UNDETERMINED"), (0x0300, "SSLv3"), (0x0301, "TLSv1"), (0x0302, "TLS 1.1"),
    (0x0303, "TLS 1.2"), (0x0304, "TLS 1.3"), (0x7F12, "TLS 1.3 draft-18"),
    (0x7F0E, "TLS 1.3 draft-<16"), (0x1234, "UNDETERMINED"),
])
def test_versions_are_named_as_suricata_names_them(version, name):
    assert tls_version_name(version) == name


@pytest.mark.parametrize("client,server,name", [
    (b"EHLO x\r\nSTARTTLS\r\n", b"220 mx ESMTP\r\n250 ok\r\n220 go\r\n", "smtp"),
    (b"AUTH TLS\r\n", b"220 ftp ready\r\n234 ok\r\n", "ftp"),
    (b"a STARTTLS\r\n", b"* OK ready\r\na OK\r\n", "imap"),
    (b"STLS\r\n", b"+OK pop\r\n+OK\r\n", "pop3"),
    (b"<?xml version='1.0'?><stream:stream>", b"<?xml version='1.0'?>", "xmpp"),
    (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"S", "postgresql"),
    (b"\x04\x01\x01\xbb\x01\x02\x03\x04\x00", b"\x00\x5a" + bytes(6), "socks4"),
    (b"\x05\x01\x00", b"\x05\x00", "socks5"),
    (b"CONNECT a:443 HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n", "http"),
    (b"\x30\x1d\x02\x01\x01\x77\x18\x80\x161.3.6.1.4.1.1466.20037", b"\x30\x0c", "ldap"),
])
def test_plaintext_preambles_are_named(client, server, name):
    assert name_preamble(client, server) == name


def test_quic_datagrams_are_split_from_their_length_prefixes():
    assert split_datagrams(b"\x00\x03abc\x00\x01d\x00\x05ef") == [b"abc", b"d", b"ef"]
