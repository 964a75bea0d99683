"""Literal SSH vectors for tests/test_ssh_parse.py.

Provenance: the OpenSSH client and server banner + first binary packet
(SSH_MSG_KEXINIT) of the only TCP connection in the Suricata verification
capture suricata-verify/ssh-hassh/input.pcap (OISF/suricata-verify, GPL-2.0;
in the shared corpus as suricata-verify/ssh-hassh__input.pcap), copied here
byte for byte as hex. The expected HASSH values are those Suricata 7.0.10
wrote for that capture (reference/suricata/...ssh-hassh__input.pcap.eve.jsonl).
The name-lists are written out independently of the parser under test.

The builders at the end make synthetic packets for malformed-input tests.
"""
import struct

KEXINIT_LIST_NAMES = (
    "kex_algorithms", "server_host_key_algorithms",
    "encryption_algorithms_client_to_server", "encryption_algorithms_server_to_client",
    "mac_algorithms_client_to_server", "mac_algorithms_server_to_client",
    "compression_algorithms_client_to_server", "compression_algorithms_server_to_client",
    "languages_client_to_server", "languages_server_to_client",
)

# client: SSH-2.0-OpenSSH_for_Windows_7.7, from 192.168.0.27:54634
OPENSSH_CLIENT_BANNER = b'SSH-2.0-OpenSSH_for_Windows_7.7\r\n'
OPENSSH_CLIENT_KEXINIT = bytes.fromhex(
    "00000524091403265c866cfa28973161bbbfbd897d9800000130637572766532"
    "353531392d7368613235362c637572766532353531392d736861323536406c69"
    "627373682e6f72672c656364682d736861322d6e697374703235362c65636468"
    "2d736861322d6e697374703338342c656364682d736861322d6e697374703532"
    "312c6469666669652d68656c6c6d616e2d67726f75702d65786368616e67652d"
    "7368613235362c6469666669652d68656c6c6d616e2d67726f757031362d7368"
    "613531322c6469666669652d68656c6c6d616e2d67726f757031382d73686135"
    "31322c6469666669652d68656c6c6d616e2d67726f75702d65786368616e6765"
    "2d736861312c6469666669652d68656c6c6d616e2d67726f757031342d736861"
    "3235362c6469666669652d68656c6c6d616e2d67726f757031342d736861312c"
    "6578742d696e666f2d630000012265636473612d736861322d6e697374703235"
    "362d636572742d763031406f70656e7373682e636f6d2c65636473612d736861"
    "322d6e697374703338342d636572742d763031406f70656e7373682e636f6d2c"
    "65636473612d736861322d6e697374703532312d636572742d763031406f7065"
    "6e7373682e636f6d2c65636473612d736861322d6e697374703235362c656364"
    "73612d736861322d6e697374703338342c65636473612d736861322d6e697374"
    "703532312c7373682d656432353531392d636572742d763031406f70656e7373"
    "682e636f6d2c7373682d7273612d636572742d763031406f70656e7373682e63"
    "6f6d2c7373682d656432353531392c7273612d736861322d3531322c7273612d"
    "736861322d3235362c7373682d7273610000006c63686163686132302d706f6c"
    "7931333035406f70656e7373682e636f6d2c6165733132382d6374722c616573"
    "3139322d6374722c6165733235362d6374722c6165733132382d67636d406f70"
    "656e7373682e636f6d2c6165733235362d67636d406f70656e7373682e636f6d"
    "0000006c63686163686132302d706f6c7931333035406f70656e7373682e636f"
    "6d2c6165733132382d6374722c6165733139322d6374722c6165733235362d63"
    "74722c6165733132382d67636d406f70656e7373682e636f6d2c616573323536"
    "2d67636d406f70656e7373682e636f6d000000d5756d61632d36342d65746d40"
    "6f70656e7373682e636f6d2c756d61632d3132382d65746d406f70656e737368"
    "2e636f6d2c686d61632d736861322d3235362d65746d406f70656e7373682e63"
    "6f6d2c686d61632d736861322d3531322d65746d406f70656e7373682e636f6d"
    "2c686d61632d736861312d65746d406f70656e7373682e636f6d2c756d61632d"
    "3634406f70656e7373682e636f6d2c756d61632d313238406f70656e7373682e"
    "636f6d2c686d61632d736861322d3235362c686d61632d736861322d3531322c"
    "686d61632d73686131000000d5756d61632d36342d65746d406f70656e737368"
    "2e636f6d2c756d61632d3132382d65746d406f70656e7373682e636f6d2c686d"
    "61632d736861322d3235362d65746d406f70656e7373682e636f6d2c686d6163"
    "2d736861322d3531322d65746d406f70656e7373682e636f6d2c686d61632d73"
    "6861312d65746d406f70656e7373682e636f6d2c756d61632d3634406f70656e"
    "7373682e636f6d2c756d61632d313238406f70656e7373682e636f6d2c686d61"
    "632d736861322d3235362c686d61632d736861322d3531322c686d61632d7368"
    "6131000000046e6f6e65000000046e6f6e650000000000000000000000000000"
    "0000000000000000"
)
OPENSSH_CLIENT_STREAM = OPENSSH_CLIENT_BANNER + OPENSSH_CLIENT_KEXINIT
OPENSSH_CLIENT_PACKET_LENGTH = 1316
OPENSSH_CLIENT_PADDING_LENGTH = 9
OPENSSH_CLIENT_COOKIE = bytes.fromhex('03265c866cfa28973161bbbfbd897d98')
OPENSSH_CLIENT_LISTS = {
    'kex_algorithms': (
        'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nis'
        'tp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-g'
        'roup-exchange-sha256,diffie-hellman-group16-sha512,diffie-he'
        'llman-group18-sha512,diffie-hellman-group-exchange-sha1,diff'
        'ie-hellman-group14-sha256,diffie-hellman-group14-sha1,ext-in'
        'fo-c'
    ),
    'server_host_key_algorithms': (
        'ecdsa-sha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384'
        '-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.c'
        'om,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp5'
        '21,ssh-ed25519-cert-v01@openssh.com,ssh-rsa-cert-v01@openssh'
        '.com,ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ssh-rsa'
    ),
    'encryption_algorithms_client_to_server': (
        'chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-c'
        'tr,aes128-gcm@openssh.com,aes256-gcm@openssh.com'
    ),
    'encryption_algorithms_server_to_client': (
        'chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-c'
        'tr,aes128-gcm@openssh.com,aes256-gcm@openssh.com'
    ),
    'mac_algorithms_client_to_server': (
        'umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-2'
        '56-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-e'
        'tm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac'
        '-sha2-256,hmac-sha2-512,hmac-sha1'
    ),
    'mac_algorithms_server_to_client': (
        'umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-2'
        '56-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-e'
        'tm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac'
        '-sha2-256,hmac-sha2-512,hmac-sha1'
    ),
    'compression_algorithms_client_to_server': (
        'none'
    ),
    'compression_algorithms_server_to_client': (
        'none'
    ),
    'languages_client_to_server': (
        ''
    ),
    'languages_server_to_client': (
        ''
    ),
}
# Suricata 7.0.10's ssh.client.hassh for this capture
OPENSSH_CLIENT_HASSH = '2dd6531c7e89d3c925db9214711be76a'
OPENSSH_CLIENT_HASSH_STRING = (
    'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nis'
    'tp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-g'
    'roup-exchange-sha256,diffie-hellman-group16-sha512,diffie-he'
    'llman-group18-sha512,diffie-hellman-group-exchange-sha1,diff'
    'ie-hellman-group14-sha256,diffie-hellman-group14-sha1,ext-in'
    'fo-c;chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes'
    '256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com;umac-6'
    '4-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm'
    '@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@ope'
    'nssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-'
    '256,hmac-sha2-512,hmac-sha1;none'
)

# server: SSH-2.0-OpenSSH_7.4, from 192.168.0.103:22
OPENSSH_SERVER_BANNER = b'SSH-2.0-OpenSSH_7.4\r\n'
OPENSSH_SERVER_KEXINIT = bytes.fromhex(
    "000004fc0a1412a427ab5300b56584d48d256f5ae42500000140637572766532"
    "353531392d7368613235362c637572766532353531392d736861323536406c69"
    "627373682e6f72672c656364682d736861322d6e697374703235362c65636468"
    "2d736861322d6e697374703338342c656364682d736861322d6e697374703532"
    "312c6469666669652d68656c6c6d616e2d67726f75702d65786368616e67652d"
    "7368613235362c6469666669652d68656c6c6d616e2d67726f757031362d7368"
    "613531322c6469666669652d68656c6c6d616e2d67726f757031382d73686135"
    "31322c6469666669652d68656c6c6d616e2d67726f75702d65786368616e6765"
    "2d736861312c6469666669652d68656c6c6d616e2d67726f757031342d736861"
    "3235362c6469666669652d68656c6c6d616e2d67726f757031342d736861312c"
    "6469666669652d68656c6c6d616e2d67726f7570312d73686131000000417373"
    "682d7273612c7273612d736861322d3531322c7273612d736861322d3235362c"
    "65636473612d736861322d6e697374703235362c7373682d6564323535313900"
    "0000af63686163686132302d706f6c7931333035406f70656e7373682e636f6d"
    "2c6165733132382d6374722c6165733139322d6374722c6165733235362d6374"
    "722c6165733132382d67636d406f70656e7373682e636f6d2c6165733235362d"
    "67636d406f70656e7373682e636f6d2c6165733132382d6362632c6165733139"
    "322d6362632c6165733235362d6362632c626c6f77666973682d6362632c6361"
    "73743132382d6362632c336465732d636263000000af63686163686132302d70"
    "6f6c7931333035406f70656e7373682e636f6d2c6165733132382d6374722c61"
    "65733139322d6374722c6165733235362d6374722c6165733132382d67636d40"
    "6f70656e7373682e636f6d2c6165733235362d67636d406f70656e7373682e63"
    "6f6d2c6165733132382d6362632c6165733139322d6362632c6165733235362d"
    "6362632c626c6f77666973682d6362632c636173743132382d6362632c336465"
    "732d636263000000d5756d61632d36342d65746d406f70656e7373682e636f6d"
    "2c756d61632d3132382d65746d406f70656e7373682e636f6d2c686d61632d73"
    "6861322d3235362d65746d406f70656e7373682e636f6d2c686d61632d736861"
    "322d3531322d65746d406f70656e7373682e636f6d2c686d61632d736861312d"
    "65746d406f70656e7373682e636f6d2c756d61632d3634406f70656e7373682e"
    "636f6d2c756d61632d313238406f70656e7373682e636f6d2c686d61632d7368"
    "61322d3235362c686d61632d736861322d3531322c686d61632d736861310000"
    "00d5756d61632d36342d65746d406f70656e7373682e636f6d2c756d61632d31"
    "32382d65746d406f70656e7373682e636f6d2c686d61632d736861322d323536"
    "2d65746d406f70656e7373682e636f6d2c686d61632d736861322d3531322d65"
    "746d406f70656e7373682e636f6d2c686d61632d736861312d65746d406f7065"
    "6e7373682e636f6d2c756d61632d3634406f70656e7373682e636f6d2c756d61"
    "632d313238406f70656e7373682e636f6d2c686d61632d736861322d3235362c"
    "686d61632d736861322d3531322c686d61632d73686131000000156e6f6e652c"
    "7a6c6962406f70656e7373682e636f6d000000156e6f6e652c7a6c6962406f70"
    "656e7373682e636f6d0000000000000000000000000000000000000000000000"
)
OPENSSH_SERVER_STREAM = OPENSSH_SERVER_BANNER + OPENSSH_SERVER_KEXINIT
OPENSSH_SERVER_PACKET_LENGTH = 1276
OPENSSH_SERVER_PADDING_LENGTH = 10
OPENSSH_SERVER_COOKIE = bytes.fromhex('12a427ab5300b56584d48d256f5ae425')
OPENSSH_SERVER_LISTS = {
    'kex_algorithms': (
        'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nis'
        'tp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-g'
        'roup-exchange-sha256,diffie-hellman-group16-sha512,diffie-he'
        'llman-group18-sha512,diffie-hellman-group-exchange-sha1,diff'
        'ie-hellman-group14-sha256,diffie-hellman-group14-sha1,diffie'
        '-hellman-group1-sha1'
    ),
    'server_host_key_algorithms': (
        'ssh-rsa,rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed'
        '25519'
    ),
    'encryption_algorithms_client_to_server': (
        'chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-c'
        'tr,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-cbc,'
        'aes192-cbc,aes256-cbc,blowfish-cbc,cast128-cbc,3des-cbc'
    ),
    'encryption_algorithms_server_to_client': (
        'chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-c'
        'tr,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-cbc,'
        'aes192-cbc,aes256-cbc,blowfish-cbc,cast128-cbc,3des-cbc'
    ),
    'mac_algorithms_client_to_server': (
        'umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-2'
        '56-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-e'
        'tm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac'
        '-sha2-256,hmac-sha2-512,hmac-sha1'
    ),
    'mac_algorithms_server_to_client': (
        'umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-2'
        '56-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-e'
        'tm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac'
        '-sha2-256,hmac-sha2-512,hmac-sha1'
    ),
    'compression_algorithms_client_to_server': (
        'none,zlib@openssh.com'
    ),
    'compression_algorithms_server_to_client': (
        'none,zlib@openssh.com'
    ),
    'languages_client_to_server': (
        ''
    ),
    'languages_server_to_client': (
        ''
    ),
}
# Suricata 7.0.10's ssh.server.hassh for this capture
OPENSSH_SERVER_HASSH = '6832f1ce43d4397c2c0a3e2f8c94334e'
OPENSSH_SERVER_HASSH_STRING = (
    'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nis'
    'tp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-g'
    'roup-exchange-sha256,diffie-hellman-group16-sha512,diffie-he'
    'llman-group18-sha512,diffie-hellman-group-exchange-sha1,diff'
    'ie-hellman-group14-sha256,diffie-hellman-group14-sha1,diffie'
    '-hellman-group1-sha1;chacha20-poly1305@openssh.com,aes128-ct'
    'r,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@op'
    'enssh.com,aes128-cbc,aes192-cbc,aes256-cbc,blowfish-cbc,cast'
    '128-cbc,3des-cbc;umac-64-etm@openssh.com,umac-128-etm@openss'
    'h.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openss'
    'h.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128'
    '@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1;none,zlib'
    '@openssh.com'
)
# RFC 4253 4.2: a server may send other lines before its version line
PRE_BANNER_SERVER_STREAM = (b"Unauthorised access prohibited.\r\n\r\n"
                            + OPENSSH_SERVER_STREAM)


def packet(payload, block=8):
    """An unencrypted binary packet (RFC 4253 6) around `payload`, padding >= 4."""
    padding = block - (5 + len(payload)) % block
    if padding < 4:
        padding += block
    return struct.pack(">IB", 1 + len(payload) + padding, padding) + payload + b"\x00" * padding


def kexinit_payload(lists, follows=False, cookie=b"\x11" * 16):
    """SSH_MSG_KEXINIT payload from {list name: bytes}, in RFC 4253 7.1 order."""
    body = b"\x14" + cookie
    for name in KEXINIT_LIST_NAMES:
        body += struct.pack(">I", len(lists[name])) + lists[name]
    return body + bytes([1 if follows else 0]) + b"\x00\x00\x00\x00"


def kexinit_packet(lists, follows=False):
    return packet(kexinit_payload(lists, follows))
