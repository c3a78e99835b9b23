#!/usr/bin/env python3
"""The media of the client's phone in the browser phone-call tests.

SIPp does the phone's SIP (tests/data/sipp/call.xml names this port in its
SDP); this sends the phone's voice and records what it hears:

    rtp_phone.py IP PORT VOICE RECORDING

VOICE is raw A-law (made from a WAV by sox), sent as RTP (payload type 8,
20 ms a packet, looped) to whoever sends RTP here first: rtpengine, which
sends the browser's audio to the address in the SDP. Every payload received
is appended to RECORDING (raw A-law, for sox). Runs until SIGTERM, then
prints "received N sent M" on stdout. Prints "listening" once bound.
"""
import os
import select
import signal
import socket
import struct
import sys
import time

PACKET = 160  # 20 ms of 8 kHz A-law


def main():
    ip, port, voice_path, recording_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with open(voice_path, 'rb') as f:
        voice = f.read()
    if len(voice) < PACKET:
        sys.exit('rtp_phone: the voice file is shorter than one packet')
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print('listening', flush=True)
    peer = None
    received = sent = 0
    seq, stamp, ssrc = 1, 0, int.from_bytes(os.urandom(4), 'big')
    offset = 0
    next_send = time.monotonic()
    with open(recording_path, 'wb') as recording:
        while not stop:
            wait = max(0.0, next_send - time.monotonic()) if peer else 0.2
            try:
                readable, _, _ = select.select([s], [], [], wait)
            except InterruptedError:
                continue
            if readable:
                data, source = s.recvfrom(2048)
                if len(data) > 12 and data[0] >> 6 == 2:
                    header = 12 + 4 * (data[0] & 0x0F)
                    if data[0] & 0x10 and len(data) >= header + 4:  # a header extension
                        header += 4 + 4 * struct.unpack('!H', data[header + 2:header + 4])[0]
                    if data[1] & 0x7F == 8:  # PCMA; RTCP and other payloads are not audio
                        recording.write(data[header:])
                        received += 1
                        if peer is None:
                            peer = source
                            next_send = time.monotonic()
            if peer and time.monotonic() >= next_send:
                chunk = voice[offset:offset + PACKET]
                if len(chunk) < PACKET:
                    offset = 0
                    chunk = voice[:PACKET]
                offset += PACKET
                s.sendto(struct.pack('!BBHII', 0x80, 8, seq & 0xFFFF, stamp & 0xFFFFFFFF, ssrc) + chunk, peer)
                seq += 1
                stamp += PACKET
                sent += 1
                next_send += 0.02
    print(f'received {received} sent {sent}', flush=True)


if __name__ == '__main__':
    main()
