#!/usr/bin/env python3
"""A TCP link with a rate cap, for benchmarks: listens on 127.0.0.1:PORT, forwards every connection to
TARGET_PORT on 127.0.0.1 and lets at most MBIT megabits per second through in each direction, shared by all the
connections of the link (a token bucket refilled continuously, bursts of at most 64 KiB). No delay, no loss.

    bench/linkcap.py PORT TARGET_PORT MBIT
"""
import asyncio
import sys
import time

CHUNK = 64 * 1024


class Bucket:
    def __init__(self, bytes_per_second):
        self.rate = bytes_per_second
        self.tokens = 0.0
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n):
        async with self.lock:  # one waiter at a time: the link's bytes go out in order of asking
            while True:
                now = time.monotonic()
                self.tokens = min(float(CHUNK), self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)


async def pump(reader, writer, bucket):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            await bucket.take(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def main():
    port, target, mbit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    rate = mbit * 1_000_000 / 8
    up, down = Bucket(rate), Bucket(rate)

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pump(client_reader, server_writer, up), pump(server_reader, client_writer, down))

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
