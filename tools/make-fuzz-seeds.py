#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/seeds/<target>/) from
the project's own test data and a few hand-written inputs: a starting point
for libFuzzer, replayed by every build's ctest. Run from the repository's
root; it rewrites the seed folders whole. The config seeds take
`tiraid --print-example-config` as their first file (path of tiraid as the
first argument)."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parent.parent
seeds = root / "tests" / "fuzz" / "seeds"
data = root / "tests" / "data"


def write(target, items):
    folder = seeds / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for item in items:
        b = item if isinstance(item, bytes) else item.encode()
        (folder / hashlib.sha1(b).hexdigest()[:16]).write_bytes(b)


S = "s_" + "A" * 26
C = "c_" + "B" * 26
offer = (data / "webrtc" / "chromium-offer-relay.sdp").read_text()
cands = [json.loads(l) for l in (data / "webrtc" / "chromium-candidates-all.jsonl").read_text().splitlines() if l]
frames = [
    {"type": "hello", "role": "talent", "alias": "natasha", "secret": "correct horse battery"},
    {"type": "hello", "role": "client", "token": "t" * 43},
    {"type": "hello", "role": "talent", "resume": "r" * 43},
    {"type": "send", "session": S, "id": "m1", "text": "halo kak, jam 10 ya"},
    {"type": "send", "session": S, "id": "m2", "text": "emoji \U0001F600 and \u00e9\u200b"},
    {"type": "ack", "session": S, "seq": 17},
    {"type": "end", "session": S},
    {"type": "rate", "session": S, "score": 5},
    {"type": "logout"},
    {"type": "delete_account", "secret": "correct horse battery"},
    {"type": "call", "action": "start", "session": S, "id": "k1"},
    {"type": "call", "action": "accept", "session": S, "call": C},
    {"type": "call", "action": "decline", "session": S, "call": C},
    {"type": "call", "action": "hangup", "session": S, "call": C, "reason": "failed"},
    {"type": "call", "action": "sdp", "session": S, "call": C, "sdp": {"type": "offer", "sdp": offer}},
    {"type": "call", "action": "candidate", "session": S, "call": C, "candidate": cands[0]},
    {"type": "call", "action": "candidate", "session": S, "call": C,
     "candidate": {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}},
]
write("frame", [json.dumps(f) for f in frames] + [
    '{"type":"send","session":"s_x","id":"m1","text":"\\udc80"}',
    '{"type":"ack","session":"' + S + '","seq":1e400}',
    '{"type":"send","session":"' + S + '","id":"' + "i" * 65 + '","text":"x"}',
    '{"type":"nope"}', '[]', '{"type":"send"', '{"type":"send","type":"ack"}',
])

sdps = sorted((data / "webrtc").glob("*.sdp"))
write("sdp", [p.read_bytes() for p in sdps] +
      [c["candidate"] for p in sorted((data / "webrtc").glob("*.jsonl"))
       for c in map(json.loads, filter(None, p.read_text().splitlines())) if c["candidate"]] +
      ["a=candidate:1 1 udp 1 198.51.100.7 3478 typ relay raddr 192.0.2.10 rport 5000 generation 0",
       "candidate:1 1 UDP 1 2001:DB8:0::7 3478 typ relay raddr :: rport 0 ufrag abcd network-cost 10",
       "candidate:1 1 tcp 1 198.51.100.7 443 typ relay tcptype passive raddr 0.0.0.0 rport 0"])

write("kannel_query", [
    "secret=s3cret-s3cret-s3cret&from=%2B6281234567890&to=%2B6281100000001&text=halo+kak&id=42",
    "secret=x&from=081234567890&to=6281100000001&text=%00h%00a%00l%00o&charset=UTF-16BE&coding=2",
    "secret=x&from=%2B62+812-3456.7890&to=%2B6281100000001&text=caf%E9&charset=ISO-8859-1",
    "secret=x&from=0812&to=%2B6281100000001&text=%80%99&charset=WINDOWS-1252",
    "secret=x&from=%2B1%20(555)%20010-0000&to=%2B6281100000001&text=%F0%9F%98%80&charset=8-BIT",
    "from=%ZZ&to=&text=",
    "text=%D8%3D%DE%00&charset=UCS-2",
])

corpus = [l.split("\t", 1)[1] for l in (data / "contact_corpus.tsv").read_text().splitlines()
          if l and not l.startswith("#") and "\t" in l]
write("contact_guard", [chr(i % 16) + t for i, t in enumerate(corpus)])

configs = []
if len(sys.argv) > 1:
    configs.append(subprocess.run([sys.argv[1], "--print-example-config"], check=True,
                                  capture_output=True, text=True).stdout)
configs += [
    "",
    '[relay]\nlisten = "127.0.0.1:8080"\nmax_connections = 100\n',
    '[sessions]\ngrace = "30s"\nwarn_before = "5m"\n',
    '[packages.sleep-call-2h]\nchannels = ["chat", "voice"]\nduration = "2h"\ncall_minutes = 90\n',
    '[sms]\nenabled = true\ninbound_secret = "0123456789abcdef0123"\nsendsms_url = "http://127.0.0.1:13013/cgi-bin/sendsms"\n'
    'username = "tirai"\npassword = "pw"\nproxy_numbers = ["+6281100000001"]\ncountry_code = "62"\n',
    '[calls]\nenabled = true\nturn_urls = ["turn:turn.example.com:3478?transport=udp"]\nrelay_addresses = ["203.0.113.10"]\n',
    '[policy]\ncontact_guard = "block"\nkyc_required_hours = "22:00-06:00"\ntimezone = "Asia/Jakarta"\n',
    '[relay\nlisten = 8080',
    '[relay]\nlisten = "127.0.0.1:99999"\n',
]
write("config", configs)

token = "Authorization: Bearer fuzz-admin-token-0123456789\r\n"


def req(method, path, body=None, auth=True, extra=""):
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (token if auth else "") + extra
    if body is not None:
        b = json.dumps(body) if not isinstance(body, str) else body
        return head + f"Content-Type: application/json\r\nContent-Length: {len(b.encode())}\r\n\r\n" + b
    return head + "\r\n"


write("admin_api", [
    req("GET", "/v1/health", auth=False),
    req("GET", "/metrics"),
    req("GET", "/v1/packages") + req("GET", "/v1/talents"),
    req("POST", "/v1/talents", {"alias": "natasha", "secret": "correct horse battery staple"}),
    req("POST", "/v1/talents", {"alias": "natasha", "secret": "correct horse battery staple"}) +
    req("POST", "/v1/sessions", {"talent": "natasha", "client": "+6281234567890", "package": "chat-30m"}),
    req("POST", "/v1/sessions", {"talent": "natasha", "client": "+6281234567890", "package": "chat-call-60m",
                                 "sms": False, "send_link": False}),
    req("GET", "/v1/sessions?state=open") + req("GET", "/v1/sessions/" + S),
    req("POST", "/v1/sessions/" + S + "/end", ""),
    req("DELETE", "/v1/talents/natasha"),
    req("POST", "/v1/clients/lookup", {"client": "+6281234567890"}),
    req("POST", "/v1/clients/verify", {"client": "+6281234567890", "method": "ktp"}),
    req("POST", "/v1/clients/restrict", {"client": "+6281234567890", "restricted": True}),
    req("POST", "/v1/clients/erase", {"client": "+6281234567890"}),
    req("GET", "/", auth=False) + req("GET", "/app.js", auth=False),
    req("HEAD", "/", auth=False, extra="Accept-Encoding: gzip\r\n"),
    req("POST", "/v1/sessions", '{"talent":', extra=""),
    "POST /v1/talents HTTP/1.1\r\n" + token + "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n",
    "GET /v1/health HTTP/1.0\r\n\r\n",
])


def ws(first, payload, mask=b"\x0f\x1e\x2d\x3c"):
    """A client's WebSocket frame: the header's first byte, masked payload."""
    p = payload if isinstance(payload, bytes) else payload.encode()
    n = len(p)
    head = bytes([first]) + (bytes([0x80 | n]) if n < 126 else
                             bytes([0x80 | 126]) + n.to_bytes(2, "big") if n < 65536 else
                             bytes([0x80 | 127]) + n.to_bytes(8, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(p))


# ws_frames: a limit byte (1 + 64 * it), a cut byte (reads of 1 + it % 32), frames.
hello = json.dumps({"type": "hello", "role": "talent", "alias": "natasha", "secret": "correct horse"})
write("ws_frames", [
    b"\x10\x00" + ws(0x81, hello),
    b"\x10\x03" + ws(0x81, hello) + ws(0x89, "tik") + ws(0x8A, "") + ws(0x88, b"\x03\xe8bye"),
    b"\x10\x07" + ws(0x01, '{"type":') + ws(0x89, "tok") + ws(0x80, '"ping"}'),
    b"\x08\x1f" + ws(0x82, bytes(range(200))),
    b"\xff\x05" + ws(0x81, "kalimat " * 40),
    b"\x02\x01" + ws(0x81, "x" * 300),
    b"\x10\x02" + ws(0x01, "\u00e9".encode()[:1]) + ws(0x80, "\u00e9".encode()[1:]),
    b"\x10\x00" + ws(0x88, b""),
])
print(f"seeds written under {seeds.relative_to(root)}")
