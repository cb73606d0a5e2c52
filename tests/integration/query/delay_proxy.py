#!/usr/bin/env python3
"""A TCP proxy that delays what the upstream sends back (a store whose
answers arrive late): the fault tests' stand-in for `tc qdisc ... netem delay`
on kernels without sch_netem.

usage: delay_proxy.py LISTEN_PORT UPSTREAM_HOST:PORT DELAY_FILE
Each chunk from the upstream is delivered DELAY ms after it arrived, in order;
DELAY is read from DELAY_FILE (milliseconds, missing or empty = 0) for each
chunk, so a test can turn the delay on and off.  Requests go up at once.
"""
import asyncio
import sys
import time


def delay_s(path):
    try:
        with open(path) as f:
            return max(0.0, float(f.read().strip() or 0) / 1000.0)
    except (OSError, ValueError):
        return 0.0


async def pipe_up(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def pipe_down(reader, writer, path):
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.ensure_future(deliver())
    try:
        while data := await reader.read(65536):
            await queue.put((time.monotonic() + delay_s(path), data))
    except (ConnectionError, OSError):
        pass
    await queue.put((0, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def main():
    port, upstream, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    host, uport = upstream.rsplit(":", 1)

    async def handle(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(host, int(uport))
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pipe_up(creader, uwriter), pipe_down(ureader, cwriter, path))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


asyncio.run(main())
